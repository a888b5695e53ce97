import Foundation
import ImageStore
import TestSupport
import Testing

struct ImageStoreTests {
    @Test func storesByContentHashInTwoLevelDirectories() throws {
        let dir = try TemporaryDirectory("image-store")
        defer { dir.remove() }
        let store = ImageStore(root: dir.url.appendingPathComponent("images"))
        let bytes = Data("not really a jpeg but the store does not care".utf8)
        let stored = try store.store(bytes, fileExtension: "jpg")
        let id = SHA256.hex(of: bytes)
        #expect(stored.id == id)
        #expect(stored.isNew)
        #expect(stored.byteSize == bytes.count)
        let expectedPath = dir.url.appendingPathComponent("images/\(id.prefix(2))/\(id.dropFirst(2).prefix(2))/\(id).jpg").standardizedFileURL.path
        #expect(stored.url.path == expectedPath)
        #expect(try Data(contentsOf: stored.url) == bytes)
        #expect(FileTree.files(under: store.root) == ["/\(id.prefix(2))/\(id.dropFirst(2).prefix(2))/\(id).jpg"])
    }

    @Test func sameBytesAreStoredOnce() throws {
        let dir = try TemporaryDirectory("image-store")
        defer { dir.remove() }
        let store = ImageStore(root: dir.url)
        let bytes = Data(repeating: 7, count: 1000)
        let first = try store.store(bytes, fileExtension: "png")
        let second = try store.store(bytes, fileExtension: "png")
        #expect(first.isNew)
        #expect(!second.isNew)
        #expect(first.url == second.url)
        #expect(FileTree.files(under: dir.url).count == 1)
        #expect(store.contains(id: first.id, fileExtension: "png"))
    }

    @Test func diskFullLeavesNothingBehind() throws {
        let dir = try TemporaryDirectory("image-store")
        defer { dir.remove() }
        // The first write succeeds partially, the next fails as a full disk would.
        let calls = Counter()
        let io = ImageStoreIO(
            write: { fd, buffer, count in
                if calls.next() == 1 { return Foundation.write(fd, buffer, min(count, 100)) }
                errno = ENOSPC
                return -1
            }, fsync: { Foundation.fsync($0) })
        let store = ImageStore(root: dir.url, io: io)
        let bytes = Data(repeating: 1, count: 10_000)
        #expect {
            try store.store(bytes, fileExtension: "jpg")
        } throws: { error in
            guard let error = error as? ImageStoreError, case .write(_, "write", ENOSPC) = error else { return false }
            return "\(error)".contains("free disk space")
        }
        #expect(FileTree.files(under: dir.url).isEmpty)
        #expect(!store.contains(id: SHA256.hex(of: bytes), fileExtension: "jpg"))
    }

    @Test func fsyncFailureLeavesNothingBehind() throws {
        let dir = try TemporaryDirectory("image-store")
        defer { dir.remove() }
        let io = ImageStoreIO(
            write: { Foundation.write($0, $1, $2) },
            fsync: { _ in
                errno = EIO
                return -1
            })
        let store = ImageStore(root: dir.url, io: io)
        #expect(throws: ImageStoreError.self) { try store.store(Data([1, 2, 3]), fileExtension: "gif") }
        #expect(FileTree.files(under: dir.url).isEmpty)
    }

    @Test func refusesExtensionsThatCouldFormPaths() throws {
        let dir = try TemporaryDirectory("image-store")
        defer { dir.remove() }
        let store = ImageStore(root: dir.url)
        for bad in ["", "../x", "j/pg", "JPG", "averyverylongextension"] {
            #expect(throws: ImageStoreError.invalidExtension(bad)) { try store.store(Data([1]), fileExtension: bad) }
        }
    }

    /// A killed writer's temporary file in `.tmp/` is removed once it is old enough; a fresh one
    /// (a write in progress elsewhere) and the stored images stay.
    @Test func removesStaleTemporaryFiles() throws {
        let dir = try TemporaryDirectory("image-store")
        defer { dir.remove() }
        let store = ImageStore(root: dir.url)
        let stored = try store.store(Data([9, 9, 9]), fileExtension: "png")
        #expect(FileTree.files(under: dir.url) == ["/" + stored.url.path.dropFirst(dir.url.path.count + 1)])
        let stale = store.temporaryDirectory.appendingPathComponent("\(stored.id).123.tmp")
        let fresh = store.temporaryDirectory.appendingPathComponent("\(stored.id).456.tmp")
        try Data([1]).write(to: stale)
        try Data([2]).write(to: fresh)
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-3600)], ofItemAtPath: stale.path)
        #expect(store.removeStaleTemporaryFiles(olderThan: .seconds(600)) == 1)
        #expect(!FileManager.default.fileExists(atPath: stale.path))
        #expect(FileManager.default.fileExists(atPath: fresh.path))
        #expect(FileManager.default.fileExists(atPath: stored.url.path))
    }
}
