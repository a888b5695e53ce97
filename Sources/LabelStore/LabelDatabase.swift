import Foundation
import GRDB
import Logging
import PipelineModel

#if canImport(Glibc)
    import Glibc
#endif

/// The SQLite label store: one WAL-mode database file that several worker processes write at
/// once and `list-images` reads while they do.
public final class LabelDatabase: LabelStoring {
    /// Path of the database file.
    public let path: String
    let pool: DatabasePool
    let logger: Logger

    /// How long a writer waits for another process's write transaction before giving up.
    public static let busyTimeout: TimeInterval = 5

    /// Opens (creating if needed) the database for writing and applies pending migrations.
    /// `cacheMiB` enlarges SQLite's page cache for bulk loads (the default is 2 MiB per connection).
    public init(path: URL, logger: Logger, cacheMiB: Int? = nil) throws {
        self.path = path.path
        self.logger = logger
        let directory = path.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw LabelStoreError.database(path: path.path, operation: "create directory \(directory.path)", underlying: "\(error)")
        }
        var configuration = Configuration()
        configuration.busyMode = .timeout(Self.busyTimeout)
        configuration.label = "LabelDatabase"
        if let cacheMiB {
            configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA cache_size = -\(cacheMiB * 1024)") }
        }
        // GRDB's migrator reads the applied migrations before its own transaction, so two
        // processes opening a fresh database together could both try to create the tables;
        // an advisory lock beside the file makes opening and migrating one at a time.
        pool = try Self.withOpenLock(for: path.path) {
            let pool = try Self.wrap(path.path, "open") { try DatabasePool(path: path.path, configuration: configuration) }
            try Self.wrap(path.path, "check schema version") {
                try pool.read { db in try Self.checkNotNewer(db, path: path.path) }
            }
            try Self.wrap(path.path, "migrate") { try Self.migrator.migrate(pool) }
            return pool
        }
        logger.debug("label database open", metadata: ["db.path": "\(path.path)", "db.mode": "read-write"])
    }

    /// Opens for the home's label database for writing.
    public convenience init(home: PipelineHome, logger: Logger) throws {
        try self.init(path: home.labelDatabase, logger: logger)
    }

    private init(path: String, pool: DatabasePool, logger: Logger) {
        self.path = path
        self.pool = pool
        self.logger = logger
    }

    /// Opens an existing database for reading only (works while workers write, thanks to WAL);
    /// never creates or migrates it.
    public static func openReadOnly(path: URL, logger: Logger) throws -> LabelDatabase {
        guard FileManager.default.fileExists(atPath: path.path) else {
            throw LabelStoreError.databaseMissing(path: path.path)
        }
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(busyTimeout)
        configuration.label = "LabelDatabase.readonly"
        let pool = try wrap(path.path, "open read-only") { try DatabasePool(path: path.path, configuration: configuration) }
        try wrap(path.path, "check schema version") {
            try pool.read { db in
                try checkNotNewer(db, path: path.path)
                let applied = try appliedMigrations(db)
                let missing = migrator.migrations.filter { !applied.contains($0) }
                if !missing.isEmpty { throw LabelStoreError.schemaOlder(path: path.path, missingMigrations: missing) }
            }
        }
        logger.debug("label database open", metadata: ["db.path": "\(path.path)", "db.mode": "read-only"])
        return LabelDatabase(path: path.path, pool: pool, logger: logger)
    }

    /// Opens the home's label database for reading only.
    public static func openReadOnly(home: PipelineHome, logger: Logger) throws -> LabelDatabase {
        try openReadOnly(path: home.labelDatabase, logger: logger)
    }

    /// Migration identifiers recorded in the file, known or not.
    static func appliedMigrations(_ db: Database) throws -> Set<String> {
        guard try db.tableExists("grdb_migrations") else { return [] }
        return try Set(String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations"))
    }

    /// Refuses a database a newer program has migrated: its schema may mean something we do not know.
    static func checkNotNewer(_ db: Database, path: String) throws {
        let known = Set(migrator.migrations)
        let unknown = try appliedMigrations(db).subtracting(known).sorted()
        if !unknown.isEmpty { throw LabelStoreError.schemaNewer(path: path, unknownMigrations: unknown) }
    }

    /// Runs `body`, turning GRDB and system errors into `LabelStoreError` with the path and operation.
    static func wrap<T>(_ path: String, _ operation: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as LabelStoreError {
            throw error
        } catch let error as DatabaseError {
            throw LabelStoreError.database(
                path: path, operation: operation,
                underlying: "\(error.resultCode): \(error.message ?? "\(error)")")
        } catch {
            throw LabelStoreError.database(path: path, operation: operation, underlying: "\(error)")
        }
    }

    /// Holds an exclusive `flock` on `<path>-open.lock` while `body` runs.
    static func withOpenLock<T>(for path: String, _ body: () throws -> T) throws -> T {
        let lockPath = path + "-open.lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw LabelStoreError.database(path: path, operation: "open lock file \(lockPath)", underlying: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else {
                throw LabelStoreError.database(path: path, operation: "lock \(lockPath)", underlying: String(cString: strerror(errno)))
            }
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }
}
