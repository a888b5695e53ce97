import Foundation
import ImageStore
import Logging
import TestSupport
import Testing

/// The image store on PostgreSQL: bytes in the database, readers' local copies in a bounded cache.
@Suite("Image store on PostgreSQL", .enabled(if: TestPostgres.url != nil))
struct PostgresImageStoreTests {
    static func dropSchema(_ schema: String) {
        _ = try? ProcessRunner.run(
            URL(fileURLWithPath: "/usr/bin/psql"), [TestPostgres.url ?? "", "-XAtqc", "DROP SCHEMA IF EXISTS \(schema) CASCADE"])
    }

    static func photoLike(_ seed: UInt8, count: Int = 1000) -> Data {
        Data((0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31) ^ seed })
    }

    @Test("bytes stored once in the database; a reader on another machine gets an identical local copy")
    func storesOnceAndServesReaders() throws {
        let schema = TestPostgres.schemaName("images")
        defer { Self.dropSchema(schema) }
        let temp = try TemporaryDirectory("pg-images")
        defer { temp.remove() }
        let url = try #require(TestPostgres.url)
        let fetcher = try PostgresImageStore(url: url, schema: schema, cacheRoot: temp.url.appendingPathComponent("a"), logger: Logger(label: "t"))
        let bytes = Self.photoLike(1)
        let first = try fetcher.store(bytes, fileExtension: "jpg")
        let again = try fetcher.store(bytes, fileExtension: "jpg")
        #expect(first.isNew && !again.isNew)
        #expect(first.storedPath == "postgres:\(SHA256.hex(of: bytes)).jpg")
        #expect(FileTree.files(under: temp.url).isEmpty, "nothing written locally by the fetcher")

        let reader = try PostgresImageStore(url: url, schema: schema, cacheRoot: temp.url.appendingPathComponent("b"), logger: Logger(label: "t"))
        let local = try reader.localFile(forStoredPath: first.storedPath)
        #expect(try Data(contentsOf: local) == bytes)
        #expect(try reader.localFile(forStoredPath: first.storedPath) == local, "the second read is the cached copy")
        #expect(throws: ImageStoreError.self) { try reader.localFile(forStoredPath: "postgres:\(String(repeating: "0", count: 64)).jpg") }
        #expect(throws: ImageStoreError.self) { try reader.localFile(forStoredPath: "postgres:../../etc/passwd.jpg") }
    }

    @Test("past its limit the cache drops the oldest copies; a dropped copy is fetched again when read")
    func cacheStaysWithinItsLimit() throws {
        let schema = TestPostgres.schemaName("images")
        defer { Self.dropSchema(schema) }
        let temp = try TemporaryDirectory("pg-images")
        defer { temp.remove() }
        let url = try #require(TestPostgres.url)
        let writer = try PostgresImageStore(url: url, schema: schema, cacheRoot: temp.url.appendingPathComponent("w"), logger: Logger(label: "t"))
        let images = try (0..<6).map { try writer.store(Self.photoLike(UInt8($0)), fileExtension: "png") }
        let cacheRoot = temp.url.appendingPathComponent("cache")
        let reader = try PostgresImageStore(
            url: url, schema: schema, cacheRoot: cacheRoot, cacheLimit: 3000, cacheMinimumAge: 0, logger: Logger(label: "t"))
        var copies: [URL] = []
        for image in images {
            copies.append(try reader.localFile(forStoredPath: image.storedPath))
            Thread.sleep(forTimeInterval: 0.01)  // distinct modification times, oldest first
        }
        let cached = FileTree.files(under: cacheRoot)
        #expect(cached.count <= 3, "1000-byte copies under a 3000-byte limit: \(cached)")
        #expect(FileManager.default.fileExists(atPath: copies.last?.path ?? ""), "the newest copy stays")
        #expect(!FileManager.default.fileExists(atPath: copies[0].path), "the oldest copy went")
        let refetched = try reader.localFile(forStoredPath: images[0].storedPath)
        #expect(try Data(contentsOf: refetched) == Self.photoLike(0))
    }
}
