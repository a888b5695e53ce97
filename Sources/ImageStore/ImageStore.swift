import DurableFiles
import Foundation
import PipelineModel

/// A content-addressed image store: each distinct image is kept once, named by the SHA-256 of
/// its bytes, under `<root>/ab/cd/<sha256>.<ext>`.
///
/// Files appear atomically: bytes go to a temporary file in `<root>/.tmp/`, are fsynced, then
/// renamed into place (and the directory fsynced), so a reader never sees a partial image and a
/// failure at any point leaves nothing behind. A writer killed mid-write leaves its temporary
/// file in `.tmp/` only, where `removeStaleTemporaryFiles(olderThan:)` finds it without walking
/// the store.
public struct ImageStore: ImageStoring {
    /// The store's top directory (`<home>/images`).
    public let root: URL
    private let io: ImageStoreIO

    /// A store rooted at `root`; `io` replaces the low-level write for failure-injection tests.
    public init(root: URL, io: ImageStoreIO = .posix) {
        self.root = root.standardizedFileURL
        self.io = io
    }

    /// The store of a pipeline home.
    public init(home: PipelineHome) {
        self.init(root: home.imagesDirectory)
    }

    /// Where an image with `id` (lowercase hex SHA-256) and extension `fileExtension` lives.
    public func url(forID id: String, fileExtension: String) -> URL {
        directory(forID: id).appendingPathComponent("\(id).\(fileExtension)")
    }

    /// Whether an image with this id and extension is already stored.
    public func contains(id: String, fileExtension: String) -> Bool {
        FileManager.default.fileExists(atPath: url(forID: id, fileExtension: fileExtension).path)
    }

    /// Stores `data` unless identical bytes are already stored; `isNew` tells which happened.
    public func store(_ data: Data, fileExtension: String) throws(ImageStoreError) -> StoredImage {
        guard Self.isValidExtension(fileExtension) else { throw .invalidExtension(fileExtension) }
        let id = SHA256.hex(of: data)
        let target = url(forID: id, fileExtension: fileExtension)
        if FileManager.default.fileExists(atPath: target.path) {
            return StoredImage(id: id, storedPath: target.path, byteSize: data.count, isNew: false)
        }
        let directory = directory(forID: id)
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw .createDirectory(path: directory.path, detail: "\(error)")
        }
        try writeAtomically(data, to: target, in: directory, id: id)
        return StoredImage(id: id, storedPath: target.path, byteSize: data.count, isNew: true)
    }

    /// The file itself; `.missing` when it is gone.
    public func localFile(forStoredPath storedPath: String) throws(ImageStoreError) -> URL {
        guard FileManager.default.fileExists(atPath: storedPath) else { throw .missing(storedPath: storedPath) }
        return URL(fileURLWithPath: storedPath)
    }

    /// Where images are written before they are renamed into place.
    public var temporaryDirectory: URL { root.appendingPathComponent(".tmp", isDirectory: true) }

    /// Removes temporary files that writers killed mid-write left behind, if last modified more
    /// than `age` ago (a live write takes far less, so this is safe while other processes store);
    /// returns how many were removed.
    @discardableResult
    public func removeStaleTemporaryFiles(olderThan age: Duration = .seconds(600)) -> Int {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: temporaryDirectory.path) else { return 0 }
        let cutoff = Date().addingTimeInterval(-age.inSeconds)
        var removed = 0
        for name in names where name.hasSuffix(".tmp") {
            let path = temporaryDirectory.appendingPathComponent(name).path
            guard let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
                modified < cutoff
            else { continue }
            if unlink(path) == 0 { removed += 1 }
        }
        return removed
    }

    private func directory(forID id: String) -> URL {
        let chars = Array(id)
        let first = chars.count >= 2 ? String(chars[0..<2]) : "00"
        let second = chars.count >= 4 ? String(chars[2..<4]) : "00"
        return root.appendingPathComponent(first, isDirectory: true).appendingPathComponent(second, isDirectory: true)
    }

    private func writeAtomically(_ data: Data, to target: URL, in directory: URL, id: String) throws(ImageStoreError) {
        let temporary = temporaryDirectory.appendingPathComponent("\(id).\(UInt32.random(in: 0...UInt32.max)).tmp").path
        do {
            try DurableFile.writeNew(data, to: temporary, io: io)
        } catch  where error.errno == ENOENT && error.call == "open" {
            // First write into this store: make `.tmp/` (a race with another writer is fine).
            do { try DurableFile.makeDirectory(temporaryDirectory.path) } catch {
                throw .createDirectory(path: temporaryDirectory.path, detail: String(cString: strerror(error.errno)))
            }
            do { try DurableFile.writeNew(data, to: temporary, io: io) } catch {
                throw .write(path: temporary, operation: error.call, errno: error.errno)
            }
        } catch {
            throw .write(path: temporary, operation: error.call, errno: error.errno)
        }
        let moved: DurableFile.MoveResult
        do { moved = try DurableFile.rename(temporary, target.path) } catch {
            _ = try? DurableFile.unlink(temporary)  // whatever failed, no temporary file outlives this call
            throw .write(path: target.path, operation: "rename", errno: error.errno)
        }
        guard moved == .moved else { throw .write(path: temporary, operation: "rename", errno: ENOENT) }
        // The rename is durable only once the directory entry is on disk; the image is already
        // in place, so a failed directory sync is not worth failing the store for.
        try? DurableFile.syncDirectory(directory.path, io: io)
    }

    /// Extensions are short lowercase alphanumerics, so they can never form a path.
    static func isValidExtension(_ ext: String) -> Bool {
        !ext.isEmpty && ext.count <= 8 && ext.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber) }
    }
}

/// An image the store holds.
public struct StoredImage: Sendable, Equatable {
    /// SHA-256 of the bytes, lowercase hex.
    public var id: String
    /// Where the store keeps it, as `image.stored` carries it: a file path, or a shared store's
    /// `postgres:` location.
    public var storedPath: String
    /// Size in bytes.
    public var byteSize: Int
    /// False when identical bytes were already stored (nothing was written).
    public var isNew: Bool

    /// The file, for a store of files.
    public var url: URL { URL(fileURLWithPath: storedPath) }
}

/// Where image bytes are kept: files in the home (one machine), or a database shared by several.
public protocol ImageStoring: Sendable {
    /// Stores `data` unless identical bytes are already stored; `isNew` tells which happened.
    func store(_ data: Data, fileExtension: String) throws(ImageStoreError) -> StoredImage
    /// A local file with the bytes of the image at `storedPath` (as `store` returned it): the
    /// file itself, or a cached copy of a shared store's image.
    func localFile(forStoredPath storedPath: String) throws(ImageStoreError) -> URL
}

/// The system calls the store writes with; tests swap `write` to simulate a full disk.
public typealias ImageStoreIO = FileIO
