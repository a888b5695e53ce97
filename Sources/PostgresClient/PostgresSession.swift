import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import Synchronization

/// Where the database is: a `postgres://user[:password]@host[:port]/database` URL.
public struct PostgresLocation: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String

    /// Reads a `postgres://` (or `postgresql://`) URL; nil when it is not one.
    public init?(url text: String) {
        guard let components = URLComponents(string: text), ["postgres", "postgresql"].contains(components.scheme?.lowercased() ?? ""),
            let host = components.host, !host.isEmpty
        else { return nil }
        self.host = host
        port = components.port ?? 5432
        user = components.user ?? "postgres"
        password = components.password
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        database = path.isEmpty ? user : path
    }

    /// The URL without the password, for logs and errors.
    public var description: String { "postgres://\(user)@\(host):\(port)/\(database)" }
}

/// A few connections to one database, used from synchronous code: a caller blocks on a pooled
/// connection until its statements finish (the bus protocol is synchronous). Never call it on an
/// event-loop thread. Broken connections are dropped and replaced on the next checkout, so a
/// restarted server is picked up again.
public final class PostgresSession: Sendable {
    public let location: PostgresLocation
    let logger: Logger
    private let idle = Mutex<[PostgresConnection]>([])
    private let slots: DispatchSemaphore
    private let counter = Atomic<Int>(0)

    /// Unqualified table names resolve in this schema (set on each new connection).
    public let searchPath: String?

    /// A pool of at most `maxConnections` connections, opened as needed; `searchPath` (a schema
    /// `validate(schema:)` accepts) is where unqualified table names resolve.
    public init(
        location: PostgresLocation, maxConnections: Int, logger: Logger, searchPath: String? = nil,
        statementTimeout: TimeInterval = PostgresSession.defaultStatementTimeout
    ) {
        self.location = location
        self.statementTimeout = statementTimeout
        self.logger = logger
        self.searchPath = searchPath
        slots = DispatchSemaphore(value: max(1, maxConnections))
    }

    /// A fresh connection (for LISTEN, held by its owner).
    public func connect() throws -> PostgresConnection {
        var configuration = PostgresConnection.Configuration(
            host: location.host, port: location.port, username: location.user, password: location.password, database: location.database,
            tls: .disable)
        configuration.options.connectTimeout = .seconds(10)
        let connection: PostgresConnection
        do {
            connection = try PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration,
                id: counter.wrappingAdd(1, ordering: .relaxed).newValue, logger: logger
            ).wait()
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "53300" {
            // too_many_connections: the server answered, it has no slot for one more client.
            throw PostgresClientError.noFreeConnection(location: location, detail: error.serverInfo?[.message] ?? "too many clients")
        } catch {
            throw PostgresClientError.unreachable(location: location, detail: String(reflecting: error))
        }
        if let searchPath {
            do { _ = try run(connection, PostgresQuery(unsafeSQL: "SET search_path TO \"\(searchPath)\"")) } catch {
                try? connection.close().wait()
                throw error
            }
        }
        return connection
    }

    /// The longest a statement may take before its connection is closed under it (and the call
    /// fails as unreachable, to be retried): longer than any query the pipeline makes.
    public static let defaultStatementTimeout: TimeInterval = 60
    /// This pool's statement deadline (`defaultStatementTimeout` unless a test shortens it).
    public let statementTimeout: TimeInterval

    /// Runs `body` with a connection of the pool.
    public func withConnection<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        slots.wait()
        defer { slots.signal() }
        // Pooled connections the server closed meanwhile (a restart) are dropped, not used.
        var pooled = idle.withLock { $0.popLast() }
        while let stale = pooled, stale.isClosed {
            Self.discard(stale)
            pooled = idle.withLock { $0.popLast() }
        }
        let connection = try pooled ?? connect()
        do {
            let result = try body(connection)
            idle.withLock { $0.append(connection) }
            return result
        } catch {
            // A statement error leaves the connection usable; a closed one is dropped.
            // An unanswered statement leaves the connection unusable even when it looks open.
            if !connection.isClosed && !((error as? PostgresClientError)?.isUnreachable ?? false) {
                idle.withLock { $0.append(connection) }
            } else {
                Self.discard(connection)
            }
            throw error
        }
    }

    /// Runs `body` in one transaction (rolled back when it throws).
    public func transaction<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        try withConnection { connection in
            _ = try run(connection, "BEGIN")
            do {
                let result = try body(connection)
                _ = try run(connection, "COMMIT")
                return result
            } catch {
                _ = try? run(connection, "ROLLBACK")
                throw error
            }
        }
    }

    /// One statement on `connection`, its rows collected.
    public func run(_ connection: PostgresConnection, _ query: PostgresQuery) throws -> [PostgresRow] {
        guard !connection.isClosed else {
            throw PostgresClientError.unreachable(location: location, detail: "the connection was closed (server restarted or gone)")
        }
        // A deadline of our own: a statement on a connection whose server vanished without
        // closing it (seen after a server restart) never completes, and closing that connection
        // does not fail it either; so wait on the future with a timeout, then drop the connection.
        let rows = PostgresRowsBox()
        let done = DispatchSemaphore(value: 0)
        connection.query(query, logger: logger).whenComplete { result in
            rows.result = result.map { Array($0) }
            done.signal()
        }
        do {
            guard done.wait(timeout: .now() + statementTimeout) == .success, let result = rows.result else {
                Self.discard(connection)
                throw PostgresClientError.unreachable(
                    location: location, detail: "no answer to a statement within \(Int(statementTimeout)) s; the connection was dropped")
            }
            return try result.get()
        } catch let error as PSQLError {
            if connection.isClosed { throw PostgresClientError.unreachable(location: location, detail: String(reflecting: error)) }
            throw PostgresClientError.statement(sql: query.sql, detail: error.serverInfo?[.message] ?? String(reflecting: error))
        }
    }

    /// Closes `connection` without waiting for it, holding on to it until it has closed:
    /// postgres-nio requires a connection to be closed before its last reference goes.
    static func discard(_ connection: PostgresConnection) {
        let closed: EventLoopFuture<Void> = connection.close()
        closed.whenComplete { _ in withExtendedLifetime(connection) {} }
    }

    public func close() {
        for connection in idle.withLock({ list in
            defer { list = [] }
            return list
        }) { try? connection.close().wait() }
    }
}

/// What went wrong talking to PostgreSQL.
public enum PostgresClientError: Error, CustomStringConvertible {
    case unreachable(location: PostgresLocation, detail: String)
    /// The server is up but refused a new connection: all of its connections (or this role's or
    /// database's CONNECTION LIMIT) are taken.
    case noFreeConnection(location: PostgresLocation, detail: String)
    case statement(sql: String, detail: String)
    case invalidSchemaName(String)
    case invalidURL(String)
    /// The schema was migrated by a newer program: its tables may mean something this one does not know.
    case schemaNewer(location: PostgresLocation, schema: String, unknownMigrations: [String])

    public var description: String {
        switch self {
        case .unreachable(let location, let detail):
            return "cannot reach PostgreSQL at \(location): \(detail). Check that the server runs and the URL (host, port, user, database) is right."
        case .noFreeConnection(let location, let detail):
            return "PostgreSQL at \(location) has no free connection (\(detail)); raise max_connections (or the role's or database's "
                + "CONNECTION LIMIT), run fewer workers per machine, or pool connections with PgBouncer (docs/SCALING.md)"
        case .statement(let sql, let detail):
            return "PostgreSQL refused a statement: \(detail) (\(sql.prefix(120)))"
        case .invalidSchemaName(let name):
            return "'\(name)' is not a usable schema name (lowercase letters, digits and _, starting with a letter)"
        case .invalidURL(let text):
            return "'\(text)' is not a postgres://user[:password]@host[:port]/database URL"
        case .schemaNewer(let location, let schema, let unknown):
            return "schema \(schema) at \(location) was migrated by a newer version of the pipeline (\(unknown.joined(separator: ", "))); "
                + "run that version, or point --database at another database"
        }
    }

    /// Whether the server could not be reached or had no connection to spare (worth retrying
    /// later), rather than a refusal of the statement itself.
    public var isUnreachable: Bool {
        switch self {
        case .unreachable, .noFreeConnection: return true
        default: return false
        }
    }
}

/// One step of a schema's history; released steps are never edited, a change is a new step.
public struct PostgresMigration: Sendable {
    public var id: String
    public var statements: [String]

    public init(_ id: String, _ statements: [String]) {
        self.id = id
        self.statements = statements
    }
}

extension PostgresSession {
    /// Checks that `schema` is a plain lowercase identifier (it is spliced into SQL, quoted).
    public static func validate(schema: String) throws {
        guard let first = schema.unicodeScalars.first, CharacterSet.lowercaseLetters.contains(first), schema.count <= 50,
            schema.unicodeScalars.allSatisfy({ CharacterSet.lowercaseLetters.contains($0) || CharacterSet.decimalDigits.contains($0) || $0 == "_" })
        else { throw PostgresClientError.invalidSchemaName(schema) }
    }

    /// A session on the database a `postgres://` URL names.
    public convenience init(
        url: String, maxConnections: Int, logger: Logger, searchPath: String? = nil,
        statementTimeout: TimeInterval = PostgresSession.defaultStatementTimeout
    ) throws {
        guard let location = PostgresLocation(url: url) else { throw PostgresClientError.invalidURL(url) }
        if let searchPath { try Self.validate(schema: searchPath) }
        self.init(location: location, maxConnections: maxConnections, logger: logger, searchPath: searchPath, statementTimeout: statementTimeout)
    }

    /// Applies the migrations `schema` lacks, in order, each in the transaction that records it;
    /// refuses a schema that records a migration this program does not know. Processes starting
    /// together on a fresh database take turns on an advisory lock.
    public func migrate(schema: String, _ migrations: [PostgresMigration]) throws {
        try Self.validate(schema: schema)
        try transaction { connection in
            _ = try run(connection, "SELECT pg_advisory_xact_lock(hashtext(\(schema)))")
            _ = try run(connection, PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \"\(schema)\""))
            _ = try run(
                connection,
                PostgresQuery(
                    unsafeSQL:
                        "CREATE TABLE IF NOT EXISTS \"\(schema)\".schema_migrations (id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
                ))
            var applied = Set<String>()
            for row in try run(connection, PostgresQuery(unsafeSQL: "SELECT id FROM \"\(schema)\".schema_migrations")) {
                applied.insert(try row.decode(String.self))
            }
            let unknown = applied.subtracting(migrations.map(\.id)).sorted()
            if !unknown.isEmpty { throw PostgresClientError.schemaNewer(location: location, schema: schema, unknownMigrations: unknown) }
            for migration in migrations where !applied.contains(migration.id) {
                for statement in migration.statements { _ = try run(connection, PostgresQuery(unsafeSQL: statement)) }
                _ = try run(connection, "INSERT INTO \(unescaped: "\"\(schema)\"").schema_migrations (id) VALUES (\(migration.id))")
                logger.info("migrated", metadata: ["db.schema": "\(schema)", "db.migration": "\(migration.id)"])
            }
        }
    }
}

/// The outcome of one statement, handed from the event loop to the waiting thread (the semaphore
/// orders the write before the read).
private final class PostgresRowsBox: @unchecked Sendable {
    var result: Result<[PostgresRow], any Error>?
}
