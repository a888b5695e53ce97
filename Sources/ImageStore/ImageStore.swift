import Foundation
import PipelineKit

/// A content-addressed image store: each distinct image is kept once, named by the SHA-256 of
/// its bytes, under `<root>/ab/cd/<sha256>.<ext>`.
///
/// Files appear atomically: bytes go to a temporary file in `<root>/.tmp/`, are fsynced, then
/// renamed into place (and the directory fsynced), so a reader never sees a partial image and a
/// failure at any point leaves nothing behind. A writer killed mid-write leaves its temporary
/// file in `.tmp/` only, where `removeStaleTemporaryFiles(olderThan:)` finds it without walking
/// the store.
public struct ImageStore: Sendable {
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
            return StoredImage(id: id, url: target, byteSize: data.count, isNew: false)
        }
        let directory = directory(forID: id)
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw .createDirectory(path: directory.path, detail: "\(error)")
        }
        try writeAtomically(data, to: target, in: directory, id: id)
        return StoredImage(id: id, url: target, byteSize: data.count, isNew: true)
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
                  modified < cutoff else { continue }
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
        let temporary = temporaryDirectory.appendingPathComponent("\(id).\(UInt32.random(in: 0...UInt32.max)).tmp")
        var fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if fd < 0 && errno == ENOENT {
            // First write into this store: make `.tmp/` (a race with another writer is fine).
            guard mkdir(temporaryDirectory.path, 0o755) == 0 || errno == EEXIST else {
                throw .createDirectory(path: temporaryDirectory.path, detail: String(cString: strerror(errno)))
            }
            fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        }
        guard fd >= 0 else { throw .write(path: temporary.path, operation: "open", errno: errno) }
        var closed = false
        var placed = false
        defer {
            if !closed { close(fd) }
            // Whatever failed, no temporary file outlives this call.
            if !placed { unlink(temporary.path) }
        }
        let writeError: Int32? = data.withUnsafeBytes { bytes -> Int32? in
            var offset = 0
            while offset < bytes.count {
                guard let base = bytes.baseAddress else { return nil }
                let written = io.write(fd, base + offset, bytes.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                if written == 0 { return EIO }
                offset += written
            }
            return nil
        }
        if let writeError { throw .write(path: temporary.path, operation: "write", errno: writeError) }
        guard io.fsync(fd) == 0 else { throw .write(path: temporary.path, operation: "fsync", errno: errno) }
        closed = true
        guard close(fd) == 0 else { throw .write(path: temporary.path, operation: "close", errno: errno) }
        guard rename(temporary.path, target.path) == 0 else {
            throw .write(path: target.path, operation: "rename", errno: errno)
        }
        placed = true
        // The rename is durable only once the directory entry is on disk.
        let dirFD = open(directory.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirFD >= 0 {
            _ = io.fsync(dirFD)
            close(dirFD)
        }
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
    /// Absolute location of the file.
    public var url: URL
    /// Size in bytes.
    public var byteSize: Int
    /// False when identical bytes were already stored (nothing was written).
    public var isNew: Bool
}

/// The system calls the store writes with; tests swap `write` to simulate a full disk.
public struct ImageStoreIO: Sendable {
    /// `write(2)`: returns bytes written or -1 with `errno` set.
    public var write: @Sendable (Int32, UnsafeRawPointer, Int) -> Int
    /// `fsync(2)`: returns 0 or -1 with `errno` set.
    public var fsync: @Sendable (Int32) -> Int32

    /// Creates an IO table from the two calls.
    public init(write: @escaping @Sendable (Int32, UnsafeRawPointer, Int) -> Int,
                fsync: @escaping @Sendable (Int32) -> Int32) {
        self.write = write
        self.fsync = fsync
    }

    /// The real system calls.
    public static let posix = ImageStoreIO(
        write: { fd, buffer, count in Foundation.write(fd, buffer, count) },
        fsync: { fd in Foundation.fsync(fd) })
}
