import Foundation
import Logging
import PostgresClient
import PostgresNIO
import Synchronization

/// Image bytes content-addressed in PostgreSQL, so a worker on another machine needs only the
/// database URL. `storedPath` is `postgres:<id>.<ext>`; readers get a local file through a cache
/// of files (itself a content-addressed `ImageStore`, so a cached copy is never stale), and
/// paths of the file store (images fetched before the switch) still resolve to their files.
/// The cache is bounded: past `cacheLimit` bytes the oldest copies go (any copy can, since the
/// database holds every image), keeping those made in the last `cacheMinimumAge`.
public final class PostgresImageStore: ImageStoring {
    /// The prefix of the locations this store hands out.
    public static let locationPrefix = "postgres:"
    public let schema: String
    private let session: PostgresSession
    private let cache: ImageStore
    /// Bytes of local copies kept before the oldest are removed.
    public let cacheLimit: Int64
    /// Copies younger than this are never removed (a reader may be about to open one).
    public let cacheMinimumAge: TimeInterval
    /// Bytes in the cache as last counted plus what was added since; nil until first needed.
    private let cacheBytes = Mutex<Int64?>(nil)
    private let logger: Logger

    /// 1 GiB of local copies: hundreds of photos, far more than a recognizer's queue holds at once.
    public static let defaultCacheLimit: Int64 = 1 << 30

    /// Connects, creating the table when missing; `cacheRoot` holds local copies for readers.
    public init(
        url: String, schema: String = "pipeline_images", cacheRoot: URL, cacheLimit: Int64 = PostgresImageStore.defaultCacheLimit,
        cacheMinimumAge: TimeInterval = 60, maxConnections: Int = 2, logger: Logger
    ) throws {
        try PostgresSession.validate(schema: schema)
        self.schema = schema
        self.cacheLimit = max(0, cacheLimit)
        self.cacheMinimumAge = cacheMinimumAge
        self.logger = logger
        cache = ImageStore(root: cacheRoot)
        session = try PostgresSession(url: url, maxConnections: maxConnections, logger: logger, searchPath: schema)
        try session.migrate(
            schema: schema,
            [
                PostgresMigration(
                    "images-v1-blobs",
                    [
                        // bytea is TOASTed (compressed out of line past ~2 kB); JPEG and PNG do not compress, so store them as they are.
                        "CREATE TABLE \"\(schema)\".image_blobs (id text COLLATE \"C\" PRIMARY KEY, extension text NOT NULL, bytes bytea NOT NULL, stored_at timestamptz NOT NULL DEFAULT now())",
                        "ALTER TABLE \"\(schema)\".image_blobs ALTER COLUMN bytes SET STORAGE EXTERNAL",
                    ])
            ])
    }

    deinit { session.close() }

    public func store(_ data: Data, fileExtension: String) throws(ImageStoreError) -> StoredImage {
        guard ImageStore.isValidExtension(fileExtension) else { throw .invalidExtension(fileExtension) }
        let id = SHA256.hex(of: data)
        let inserted: Bool
        do {
            inserted = try session.withConnection { connection in
                try !session.run(
                    connection,
                    """
                    INSERT INTO image_blobs (id, extension, bytes) VALUES (\(id), \(fileExtension), \(ByteBuffer(bytes: data)))
                    ON CONFLICT (id) DO NOTHING RETURNING id
                    """
                ).isEmpty
            }
        } catch {
            throw .database(
                location: "\(session.location)#\(schema)", detail: "\(error)", transient: (error as? PostgresClientError)?.isUnreachable ?? false)
        }
        return StoredImage(id: id, storedPath: Self.locationPrefix + "\(id).\(fileExtension)", byteSize: data.count, isNew: inserted)
    }

    public func localFile(forStoredPath storedPath: String) throws(ImageStoreError) -> URL {
        guard storedPath.hasPrefix(Self.locationPrefix) else { return try cache.localFile(forStoredPath: storedPath) }
        let name = storedPath.dropFirst(Self.locationPrefix.count)
        guard let dot = name.lastIndex(of: "."), ImageStore.isValidExtension(String(name[name.index(after: dot)...])),
            name[..<dot].count == 64, name[..<dot].allSatisfy({ $0.isHexDigit && !$0.isUppercase })
        else { throw .missing(storedPath: storedPath) }
        let id = String(name[..<dot])
        let fileExtension = String(name[name.index(after: dot)...])
        if cache.contains(id: id, fileExtension: fileExtension) { return cache.url(forID: id, fileExtension: fileExtension) }
        let bytes: Data?
        do {
            bytes = try session.withConnection { connection in
                try session.run(connection, "SELECT bytes FROM image_blobs WHERE id = \(id)").first.map { row in
                    let buffer = try row.decode(ByteBuffer.self)
                    return Data(buffer.readableBytesView)
                }
            }
        } catch {
            throw .database(
                location: "\(session.location)#\(schema)", detail: "\(error)", transient: (error as? PostgresClientError)?.isUnreachable ?? false)
        }
        guard let bytes, SHA256.hex(of: bytes) == id else { throw .missing(storedPath: storedPath) }
        let copy = try cache.store(bytes, fileExtension: fileExtension)
        if copy.isNew { trimCache(added: Int64(bytes.count)) }
        return copy.url
    }

    /// Counts `added` bytes in; past the limit, removes the oldest copies (by modification time)
    /// until the cache is at three quarters of it.
    private func trimCache(added: Int64) {
        cacheBytes.withLock { total in
            let current = (total ?? Self.files(under: cache.root).reduce(0) { $0 + $1.size }) + added
            total = current
            guard current > cacheLimit else { return }
            var remaining = current
            var removed = 0
            let now = Date()
            for file in Self.files(under: cache.root).sorted(by: { $0.modified < $1.modified }) {
                guard remaining > cacheLimit / 4 * 3 else { break }
                guard now.timeIntervalSince(file.modified) >= cacheMinimumAge else { continue }
                if (try? FileManager.default.removeItem(at: file.url)) != nil {
                    remaining -= file.size
                    removed += 1
                }
            }
            total = remaining
            logger.info(
                "image cache trimmed", metadata: ["removed": "\(removed)", "cache.bytes": "\(remaining)", "cache.limit": "\(cacheLimit)"])
        }
    }

    /// The cached copies (temporary files excluded) with their sizes and modification times.
    static func files(under root: URL) -> [(url: URL, size: Int64, modified: Date)] {
        let keys: [URLResourceKey] = [.isRegularFileKey, .fileSizeKey, .contentModificationDateKey]
        guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: keys, options: [.skipsHiddenFiles]) else {
            return []
        }
        var files: [(url: URL, size: Int64, modified: Date)] = []
        for case let url as URL in walker {
            guard let values = try? url.resourceValues(forKeys: Set(keys)), values.isRegularFile == true else { continue }
            files.append((url, Int64(values.fileSize ?? 0), values.contentModificationDate ?? .distantPast))
        }
        return files
    }
}
