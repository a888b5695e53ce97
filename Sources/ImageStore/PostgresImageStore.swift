import Foundation
import Logging
import PostgresClient
import PostgresNIO

/// Image bytes content-addressed in PostgreSQL, so a worker on another machine needs only the
/// database URL. `storedPath` is `postgres:<id>.<ext>`; readers get a local file through a cache
/// of files (itself a content-addressed `ImageStore`, so a cached copy is never stale), and
/// paths of the file store (images fetched before the switch) still resolve to their files.
public final class PostgresImageStore: ImageStoring {
    /// The prefix of the locations this store hands out.
    public static let locationPrefix = "postgres:"
    public let schema: String
    private let session: PostgresSession
    private let cache: ImageStore

    /// Connects, creating the table when missing; `cacheRoot` holds local copies for readers.
    public init(url: String, schema: String = "pipeline_images", cacheRoot: URL, maxConnections: Int = 2, logger: Logger) throws {
        try PostgresSession.validate(schema: schema)
        self.schema = schema
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
        return try cache.store(bytes, fileExtension: fileExtension).url
    }
}
