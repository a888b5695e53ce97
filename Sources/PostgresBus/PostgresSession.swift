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
final class PostgresSession: Sendable {
    let location: PostgresLocation
    private let logger: Logger
    private let idle = Mutex<[PostgresConnection]>([])
    private let slots: DispatchSemaphore
    private let counter = Atomic<Int>(0)

    init(location: PostgresLocation, maxConnections: Int, logger: Logger) {
        self.location = location
        self.logger = logger
        slots = DispatchSemaphore(value: max(1, maxConnections))
    }

    /// A fresh connection (for LISTEN, held by its owner).
    func connect() throws -> PostgresConnection {
        var configuration = PostgresConnection.Configuration(
            host: location.host, port: location.port, username: location.user, password: location.password, database: location.database,
            tls: .disable)
        configuration.options.connectTimeout = .seconds(10)
        do {
            return try PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration,
                id: counter.wrappingAdd(1, ordering: .relaxed).newValue, logger: logger
            ).wait()
        } catch {
            throw PostgresBusError.unreachable(location: location, detail: String(reflecting: error))
        }
    }

    /// Runs `body` with a connection of the pool.
    func withConnection<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        slots.wait()
        defer { slots.signal() }
        let connection = try idle.withLock { $0.popLast() } ?? connect()
        do {
            let result = try body(connection)
            idle.withLock { $0.append(connection) }
            return result
        } catch {
            // A statement error leaves the connection usable; a closed one is dropped.
            if !connection.isClosed { idle.withLock { $0.append(connection) } } else { try? connection.close().wait() }
            throw error
        }
    }

    /// Runs `body` in one transaction (rolled back when it throws).
    func transaction<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
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
    func run(_ connection: PostgresConnection, _ query: PostgresQuery) throws -> [PostgresRow] {
        do {
            return Array(try connection.query(query, logger: logger).wait())
        } catch let error as PSQLError {
            if connection.isClosed { throw PostgresBusError.unreachable(location: location, detail: String(reflecting: error)) }
            throw PostgresBusError.statement(sql: query.sql, detail: error.serverInfo?[.message] ?? String(reflecting: error))
        }
    }

    func close() {
        for connection in idle.withLock({ list in
            defer { list = [] }
            return list
        }) { try? connection.close().wait() }
    }
}

/// What went wrong talking to PostgreSQL.
public enum PostgresBusError: Error, CustomStringConvertible {
    case unreachable(location: PostgresLocation, detail: String)
    case statement(sql: String, detail: String)
    case invalidSchemaName(String)

    public var description: String {
        switch self {
        case .unreachable(let location, let detail):
            return "cannot reach PostgreSQL at \(location): \(detail). Check that the server runs and the URL (host, port, user, database) is right."
        case .statement(let sql, let detail):
            return "PostgreSQL refused a statement: \(detail) (\(sql.prefix(120)))"
        case .invalidSchemaName(let name):
            return "'\(name)' is not a usable schema name (lowercase letters, digits and _, starting with a letter)"
        }
    }
}
