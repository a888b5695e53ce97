import Bus
import Foundation
import Logging
import PostgresBus
import PostgresClient
import Synchronization
import TestSupport
import Testing

/// The PostgreSQL bus when the server is short of connections or slow to answer: consumers
/// see a clear, retryable error and carry on; no message is lost or acked twice.
@Suite("PostgreSQL bus under faults", .serialized, .enabled(if: TestPostgres.url != nil))
struct PostgresFaultTests {
    static let server = TestPostgres.url ?? ""

    /// `server` with another user and database.
    static func url(user: String, database: String) throws -> String {
        var components = try #require(URLComponents(string: server))
        components.user = user
        components.path = "/\(database)"
        return try #require(components.string)
    }

    static func psql(_ sql: String, url: String = server) async throws {
        let run = try await ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/psql"), [url, "-XAtqc", sql], timeout: 60)
        #expect(run.status == 0, "\(sql): \(run.stderr)")
    }

    /// What the consumers of one test did: the ids they acked, the errors they saw.
    final class Tally: Sendable {
        let acked = Mutex<[String]>([])
        let errors = Mutex<[String]>([])
    }

    /// Receives and acks until `expected` messages were acked, retrying after every error.
    static func consume(_ bus: PostgresBus, queue: String, expected: Int, tally: Tally) async {
        let deadline = ContinuousClock.now + .seconds(120)
        while tally.acked.withLock({ $0.count }) < expected, ContinuousClock.now < deadline {
            do {
                for received in try await bus.receive(from: queue, maxMessages: 2, visibilityTimeout: 30, wait: 0.2) {
                    try bus.delete(received)
                    tally.acked.withLock { $0.append(received.message.id) }
                }
            } catch {
                tally.errors.withLock { $0.append("\(error)") }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    @Test("connections exhausted: the refused consumers get a clear error, retry, and every message is acked once")
    func connectionsExhausted() async throws {
        let suffix = UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(10)
        let (role, database) = ("limited_\(suffix)", "limited_\(suffix)")
        try await Self.psql("CREATE ROLE \(role) LOGIN CONNECTION LIMIT 10")
        try await Self.psql("CREATE DATABASE \(database) OWNER \(role)")
        defer {
            _ = try? ProcessRunner.run(
                URL(fileURLWithPath: "/usr/bin/psql"), [Self.server, "-XAtqc", "DROP DATABASE IF EXISTS \(database) WITH (FORCE)"])
            _ = try? ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/psql"), [Self.server, "-XAtqc", "DROP ROLE IF EXISTS \(role)"])
        }
        let bus = try PostgresBus(url: try Self.url(user: role, database: database), schema: "pipeline_bus", maxConnections: 6)
        try bus.createQueue("work", configuration: QueueConfiguration(visibilityTimeout: 30))
        try bus.subscribe(queue: "work", to: "t", filter: AttributeFilter())
        let count = 60
        _ = try bus.publish((0..<count).map { OutgoingMessage(topic: "t", body: Data("\($0)".utf8), attributes: [:]) })
        // The server fills up: the role may keep only the connection it has (the bus's LISTEN);
        // its pooled ones are closed under it. Two seconds later there is room again.
        try await Self.psql("ALTER ROLE \(role) CONNECTION LIMIT 1")
        try await Self.psql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = '\(role)' AND query NOT ILIKE 'listen%'")
        let relief = Task {
            try await Task.sleep(for: .seconds(2))
            try await Self.psql("ALTER ROLE \(role) CONNECTION LIMIT 4")
        }

        let tally = Tally()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<6 {
                group.addTask { await Self.consume(bus, queue: "work", expected: count, tally: tally) }
            }
        }
        try await relief.value
        let ids = tally.acked.withLock { $0 }
        #expect(ids.count == count && Set(ids).count == count, "every message acked exactly once")
        let seen = tally.errors.withLock { $0 }
        #expect(seen.contains { $0.contains("has no free connection") && $0.contains("CONNECTION LIMIT") }, "\(seen.prefix(3))")
        #expect(try bus.stats(of: "work").visible == 0 && bus.stats(of: "work").inFlight == 0)
    }

    @Test("a statement that never answers in time fails as unreachable and the next one runs on a fresh connection")
    func slowStatementIsCutOff() throws {
        let session = try PostgresSession(url: Self.server, maxConnections: 1, logger: Logger(label: "test"), statementTimeout: 1)
        defer { session.close() }
        let started = ContinuousClock.now
        #expect {
            try session.withConnection { _ = try session.run($0, "SELECT pg_sleep(5)") }
        } throws: { error in
            (error as? PostgresClientError)?.isUnreachable == true && "\(error)".contains("no answer to a statement within 1 s")
        }
        #expect(ContinuousClock.now - started < .seconds(4), "cut off at its deadline, not when the sleep ended")
        let one = try session.withConnection { try session.run($0, "SELECT 1")[0].decode(Int.self) }
        #expect(one == 1)
    }

    @Test("a table locked by another client for a while: consumers wait, then every message is acked once")
    func lockedTableStallsButLosesNothing() async throws {
        let schema = TestPostgres.schemaName("bus_lock")
        let bus = try PostgresBus(url: Self.server, schema: schema)
        defer { try? bus.dropSchema() }
        try bus.createQueue("work", configuration: QueueConfiguration(visibilityTimeout: 30))
        try bus.subscribe(queue: "work", to: "t", filter: AttributeFilter())
        let count = 20
        _ = try bus.publish((0..<count).map { OutgoingMessage(topic: "t", body: Data("\($0)".utf8), attributes: [:]) })
        // An operator's long transaction holds the messages table for 3 s.
        let holder = try ProcessRunner.start(
            URL(fileURLWithPath: "/usr/bin/psql"),
            [Self.server, "-Xqc", "BEGIN; LOCK TABLE \"\(schema)\".messages IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(3); COMMIT;"],
            logFile: FileManager.default.temporaryDirectory.appendingPathComponent("\(schema)-lock.log"))
        try await Task.sleep(for: .milliseconds(500))
        let tally = Tally()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<2 {
                group.addTask { await Self.consume(bus, queue: "work", expected: count, tally: tally) }
            }
        }
        holder.waitUntilExit()
        #expect(holder.terminationStatus == 0)
        let ids = tally.acked.withLock { $0 }
        #expect(ids.count == count && Set(ids).count == count, "every message acked exactly once")
        #expect(tally.errors.withLock { $0 }.isEmpty, "a lock is waited for, not an error: \(tally.errors.withLock { $0 })")
    }
}
