import Bus
import Foundation
import Logging
import NIOCore
import PostgresClient
import PostgresNIO
import Synchronization

/// The bus on PostgreSQL, with the file bus's semantics (fan-out through attribute filters,
/// visibility timeouts, receive counts, dead-letter queues, delays, retention, administration), so
/// workers on several machines share one bus through one database URL.
///
/// One table of message copies (a row per queue a message was fanned out to). A receive claims
/// rows with `FOR UPDATE SKIP LOCKED`, so concurrent consumers on any machine never block on or
/// share a row; a claim is a fresh receipt and a new `visible_at` in one UPDATE. Publishing inserts
/// every copy in one transaction and wakes long polls with NOTIFY. Times come from the bus's clock
/// (`BusClock`: the machines' clocks, kept by NTP; tests drive a manual one).
public final class PostgresBus: BusAdministration, Sendable {
    /// The schema holding the bus's tables (one database can hold several buses).
    public let schema: String
    private let session: PostgresSession
    private let clock: BusClock
    private let logger: Logger
    private let wakeups: Wakeups
    private let maintenance = MaintenanceSchedule()
    private static let columns =
        "seq, id, topic, attributes, body, published_at, enqueued_at, visible_at, receive_count, receipt, dead_letters"

    /// Connects (`maxConnections` pooled), creates the schema's tables if missing and starts
    /// listening for publishes. Throws `PostgresClientError.unreachable` when the server cannot be reached.
    public init(
        url: String, schema: String = "pipeline_bus", maxConnections: Int = 4, clock: BusClock = .system,
        logger: Logger = Logger(label: "bus.postgres")
    ) throws {
        try PostgresSession.validate(schema: schema)
        self.schema = schema
        self.clock = clock
        self.logger = logger
        session = try PostgresSession(url: url, maxConnections: maxConnections, logger: logger)
        wakeups = Wakeups()
        try migrate()
        try wakeups.listen(session: session, channel: channel, logger: logger)
    }

    deinit {
        wakeups.stop()
        session.close()
    }

    private var channel: String { "\(schema)_published" }
    private func table(_ name: String) -> String { "\"\(schema)\".\(name)" }

    private func migrate() throws {
        let statements = [
            """
            CREATE TABLE IF NOT EXISTS \(table("queues")) (
                name text PRIMARY KEY, visibility_timeout double precision NOT NULL, max_receive_count bigint NOT NULL,
                dead_letter_queue text, retention double precision)
            """,
            """
            CREATE TABLE IF NOT EXISTS \(table("subscriptions")) (
                topic text NOT NULL, queue text NOT NULL REFERENCES \(table("queues"))(name) ON DELETE CASCADE,
                filter text NOT NULL, PRIMARY KEY (topic, queue))
            """,
            """
            CREATE TABLE IF NOT EXISTS \(table("messages")) (
                seq bigserial PRIMARY KEY, queue text NOT NULL, id text NOT NULL, topic text NOT NULL, attributes text NOT NULL,
                body bytea NOT NULL, published_at double precision NOT NULL, enqueued_at double precision NOT NULL,
                visible_at double precision NOT NULL, receive_count bigint NOT NULL DEFAULT 0, receipt text,
                dead_letters text NOT NULL DEFAULT '[]')
            """,
            // The receive's range: one queue's unclaimed rows by due time, then publish order.
            "CREATE INDEX IF NOT EXISTS messages_due ON \(table("messages")) (queue, visible_at, seq)",
            "CREATE UNIQUE INDEX IF NOT EXISTS messages_receipt ON \(table("messages")) (receipt) WHERE receipt IS NOT NULL",
        ]
        // IF NOT EXISTS: buses made before migrations were recorded take this step without harm.
        try session.migrate(schema: schema, [PostgresMigration("bus-v1-queues-subscriptions-messages", statements)])
    }

    /// Drops the schema with every queue and message in it (benchmarks and tests clean up with it).
    public func dropSchema() throws {
        try session.withConnection { connection in
            _ = try session.run(connection, PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \"\(schema)\" CASCADE"))
        }
    }

    // MARK: Queues and topics

    public func createQueue(_ name: String, configuration: QueueConfiguration) throws {
        try BusNames.validate(name, what: "queue")
        if let dead = configuration.deadLetterQueue { try BusNames.validate(dead, what: "dead-letter queue") }
        try session.transaction { connection in
            if let dead = configuration.deadLetterQueue {
                _ = try session.run(
                    connection,
                    "INSERT INTO \(unescaped: table("queues")) VALUES (\(dead), 60, \(Int64.max), NULL, NULL) ON CONFLICT (name) DO NOTHING")
            }
            _ = try session.run(
                connection,
                """
                INSERT INTO \(unescaped: table("queues")) VALUES (\(name), \(configuration.visibilityTimeout), \(Int64(configuration.maxReceiveCount)),
                \(configuration.deadLetterQueue), \(configuration.retention))
                ON CONFLICT (name) DO UPDATE SET visibility_timeout = excluded.visibility_timeout, max_receive_count = excluded.max_receive_count,
                dead_letter_queue = excluded.dead_letter_queue, retention = excluded.retention
                """)
        }
    }

    public func subscribe(queue: String, to topic: String, filter: AttributeFilter) throws {
        try BusNames.validate(topic, what: "topic")
        let filterText = try Self.json(filter)
        try session.transaction { connection in
            _ = try configuration(of: queue, on: connection)
            _ = try session.run(
                connection,
                """
                INSERT INTO \(unescaped: table("subscriptions")) VALUES (\(topic), \(queue), \(filterText))
                ON CONFLICT (topic, queue) DO UPDATE SET filter = excluded.filter
                """)
        }
    }

    // MARK: Publishing

    @discardableResult
    public func publish(topic: String, body: Data, attributes: [String: String], id: String?) throws -> BusMessage {
        try publish([OutgoingMessage(topic: topic, body: body, attributes: attributes, id: id)])[0]
    }

    /// Every message of the batch, fanned out, in one transaction: all of it is published or none.
    @discardableResult
    public func publish(_ batch: [OutgoingMessage]) throws -> [BusMessage] {
        let now = clock.now()
        let messages = try batch.map { outgoing -> BusMessage in
            try BusNames.validate(outgoing.topic, what: "topic")
            let message = BusMessage(
                id: outgoing.id ?? BusNames.newID(at: now), topic: outgoing.topic, attributes: outgoing.attributes, body: outgoing.body,
                publishedAt: now)
            try BusNames.validateID(message.id)
            return message
        }
        var woken = Set<String>()
        try session.transaction { connection in
            var subscribers: [String: [(queue: String, filter: AttributeFilter)]] = [:]
            for topic in Set(messages.map(\.topic)) {
                subscribers[topic] = try session.run(
                    connection, "SELECT queue, filter FROM \(unescaped: table("subscriptions")) WHERE topic = \(topic) ORDER BY queue"
                )
                .map { row in
                    let (queue, filter) = try row.decode((String, String).self)
                    return (queue, try Self.decode(AttributeFilter.self, filter))
                }
            }
            for message in messages {
                for subscriber in subscribers[message.topic, default: []] where subscriber.filter.matches(message.attributes) {
                    try insert(message, into: subscriber.queue, at: now, delay: 0, deadLetters: [], on: connection)
                    woken.insert(subscriber.queue)
                }
            }
            for queue in woken.sorted() { _ = try session.run(connection, "SELECT pg_notify(\(channel), \(queue))") }
        }
        return messages
    }

    public func send(_ message: BusMessage, to queue: String, delay: TimeInterval) throws {
        try BusNames.validateID(message.id)
        try session.transaction { connection in
            _ = try configuration(of: queue, on: connection)
            try insert(message, into: queue, at: clock.now(), delay: delay, deadLetters: [], on: connection)
            _ = try session.run(connection, "SELECT pg_notify(\(channel), \(queue))")
        }
    }

    private func insert(
        _ message: BusMessage, into queue: String, at now: Date, delay: TimeInterval, deadLetters: [DeadLetterRecord],
        on connection: PostgresConnection
    ) throws {
        let attributes = try Self.json(message.attributes)
        let history = try Self.json(deadLetters)
        _ = try session.run(
            connection,
            """
            INSERT INTO \(unescaped: table("messages")) (queue, id, topic, attributes, body, published_at, enqueued_at, visible_at, dead_letters)
            VALUES (\(queue), \(message.id), \(message.topic), \(attributes), \(ByteBuffer(bytes: message.body)),
            \(message.publishedAt.timeIntervalSince1970), \(now.timeIntervalSince1970), \(now.timeIntervalSince1970 + max(0, delay)), \(history))
            """)
    }

    // MARK: Receiving

    public func receive(from queue: String, maxMessages: Int, visibilityTimeout: TimeInterval?, wait: TimeInterval) async throws -> [ReceivedMessage]
    {
        let deadline = ContinuousClock.now + .milliseconds(Int64(max(0, wait) * 1000))
        while true {
            let generation = wakeups.generation
            let batch = try claim(queue, maxMessages: max(1, maxMessages), visibilityTimeout: visibilityTimeout)
            if !batch.isEmpty || ContinuousClock.now >= deadline || Task.isCancelled { return batch }
            // Woken by a NOTIFY; every 250 ms regardless, for delayed messages coming due.
            await wakeups.wait(after: generation, timeout: min(.milliseconds(250), deadline - ContinuousClock.now))
        }
    }

    /// Claims up to `maxMessages` due rows in one autocommit statement (one round trip). Rows
    /// whose claim ran out below the receive limit are claimable directly; the rest of the
    /// upkeep (retention, dead-lettering spent claims) runs at most once a second per queue, so
    /// a busy queue does not pay three more statements on every receive.
    private func claim(_ queue: String, maxMessages: Int, visibilityTimeout: TimeInterval?) throws -> [ReceivedMessage] {
        let configuration = try session.withConnection { connection in try self.configuration(of: queue, on: connection) }
        let now = clock.now().timeIntervalSince1970
        if maintenance.isDue(queue, now: now) {
            try session.transaction { connection in try maintain(queue, configuration, now: now, on: connection) }
        }
        let timeout = max(0, visibilityTimeout ?? configuration.visibilityTimeout)
        let rows = try session.withConnection { connection in
            try session.run(
                connection,
                """
                WITH due AS (
                    SELECT seq FROM \(unescaped: table("messages")) WHERE queue = \(queue) AND visible_at <= \(now)
                    AND (receipt IS NULL OR receive_count < \(Int64(configuration.maxReceiveCount)))
                    ORDER BY visible_at, seq LIMIT \(maxMessages) FOR UPDATE SKIP LOCKED)
                UPDATE \(unescaped: table("messages")) m SET receive_count = m.receive_count + 1, visible_at = \(now + timeout),
                    receipt = md5(random()::text || clock_timestamp()::text || m.seq::text)
                FROM due WHERE m.seq = due.seq
                RETURNING \(unescaped: Self.columns.split(separator: ",").map { "m." + $0.trimmingCharacters(in: .whitespaces) }.joined(separator: ", "))
                """)
        }
        return try rows.map { try Entry(row: $0) }.sorted { ($0.seq) < ($1.seq) }.map { entry in
            ReceivedMessage(message: entry.message, queue: queue, receiveCount: entry.receiveCount, receipt: entry.receipt ?? "")
        }
    }

    /// Drops messages past the retention, dead-letters claims that ran out at the receive limit and
    /// makes other ran-out claims visible again.
    private func maintain(_ queue: String, _ configuration: QueueConfiguration, now: Double, on connection: PostgresConnection) throws {
        if let retention = configuration.retention {
            _ = try session.run(
                connection,
                "DELETE FROM \(unescaped: table("messages")) WHERE queue = \(queue) AND receipt IS NULL AND enqueued_at < \(now - retention)")
        }
        let spent = try session.run(
            connection,
            """
            SELECT \(unescaped: Self.columns) FROM \(unescaped: table("messages")) WHERE queue = \(queue) AND receipt IS NOT NULL
            AND visible_at <= \(now) AND receive_count >= \(Int64(configuration.maxReceiveCount)) ORDER BY seq FOR UPDATE SKIP LOCKED
            """
        ).map { try Entry(row: $0) }
        for entry in spent {
            try moveToDeadLetters(
                entry, from: queue, configuration,
                reason: "received \(entry.receiveCount) times without an ack (maxReceiveCount \(configuration.maxReceiveCount))", on: connection)
        }
        _ = try session.run(
            connection,
            "UPDATE \(unescaped: table("messages")) SET receipt = NULL WHERE queue = \(queue) AND receipt IS NOT NULL AND visible_at <= \(now)")
    }

    public func delete(_ message: ReceivedMessage) throws {
        // One statement, autocommitted: one round trip per ack.
        try session.withConnection { connection in
            let rows = try session.run(
                connection,
                "DELETE FROM \(unescaped: table("messages")) WHERE queue = \(message.queue) AND receipt = \(message.receipt) RETURNING seq")
            if rows.isEmpty { throw stale(message, "ack") }
        }
    }

    public func release(_ message: ReceivedMessage, delay: TimeInterval) throws {
        try session.transaction { connection in
            let configuration = try configuration(of: message.queue, on: connection)
            let entry = try claimed(message, "release", on: connection)
            if entry.receiveCount >= configuration.maxReceiveCount {
                try moveToDeadLetters(
                    entry, from: message.queue, configuration,
                    reason: "released after \(entry.receiveCount) receives (maxReceiveCount \(configuration.maxReceiveCount))", on: connection)
                return
            }
            _ = try session.run(
                connection,
                "UPDATE \(unescaped: table("messages")) SET receipt = NULL, visible_at = \(clock.now().timeIntervalSince1970 + max(0, delay)) WHERE seq = \(entry.seq)"
            )
            if delay <= 0 { _ = try session.run(connection, "SELECT pg_notify(\(channel), \(message.queue))") }
        }
    }

    public func deadLetter(_ message: ReceivedMessage, reason: String) throws {
        try session.transaction { connection in
            let configuration = try configuration(of: message.queue, on: connection)
            let entry = try claimed(message, "dead-letter", on: connection)
            try moveToDeadLetters(entry, from: message.queue, configuration, reason: reason, on: connection)
        }
    }

    private func claimed(_ message: ReceivedMessage, _ operation: String, on connection: PostgresConnection) throws -> Entry {
        guard
            let row = try session.run(
                connection,
                "SELECT \(unescaped: Self.columns) FROM \(unescaped: table("messages")) WHERE queue = \(message.queue) AND receipt = \(message.receipt) FOR UPDATE"
            ).first
        else { throw stale(message, operation) }
        return try Entry(row: row)
    }

    private func moveToDeadLetters(
        _ entry: Entry, from queue: String, _ configuration: QueueConfiguration, reason: String, on connection: PostgresConnection
    )
        throws
    {
        _ = try session.run(connection, "DELETE FROM \(unescaped: table("messages")) WHERE seq = \(entry.seq)")
        guard let dead = configuration.deadLetterQueue else {
            logger.warning(
                "message dropped: its queue has no dead-letter queue", metadata: ["queue": "\(queue)", "message.id": "\(entry.message.id)"])
            return
        }
        let now = clock.now()
        let record = DeadLetterRecord(queue: queue, reason: reason, receiveCount: entry.receiveCount, at: now)
        try insert(entry.message, into: dead, at: now, delay: 0, deadLetters: entry.deadLetters + [record], on: connection)
    }

    public func stats(of queue: String) throws -> QueueStats {
        try session.transaction { connection in
            let configuration = try configuration(of: queue, on: connection)
            let now = clock.now().timeIntervalSince1970
            try maintain(queue, configuration, now: now, on: connection)
            let row = try session.run(
                connection,
                """
                SELECT count(*) FILTER (WHERE receipt IS NULL AND visible_at <= \(now)), count(*) FILTER (WHERE receipt IS NOT NULL),
                count(*) FILTER (WHERE receipt IS NULL AND visible_at > \(now)) FROM \(unescaped: table("messages")) WHERE queue = \(queue)
                """)[0]
            let (visible, inFlight, delayed) = try row.decode((Int64, Int64, Int64).self)
            return QueueStats(queue: queue, visible: Int(visible), inFlight: Int(inFlight), delayed: Int(delayed))
        }
    }

    // MARK: Administration

    public func topics() throws -> [TopicInfo] {
        try session.withConnection { connection in
            var byTopic: [String: [SubscriptionInfo]] = [:]
            for row in try session.run(connection, "SELECT topic, queue, filter FROM \(unescaped: table("subscriptions")) ORDER BY topic, queue") {
                let (topic, queue, filter) = try row.decode((String, String, String).self)
                byTopic[topic, default: []].append(SubscriptionInfo(queue: queue, filter: try Self.decode(AttributeFilter.self, filter)))
            }
            // A publish is one transaction: never half fanned out.
            return byTopic.keys.sorted().map { TopicInfo(name: $0, subscriptions: byTopic[$0] ?? [], pendingFanOuts: 0) }
        }
    }

    public func queues() throws -> [String] {
        try session.withConnection { connection in
            try session.run(connection, "SELECT name FROM \(unescaped: table("queues")) ORDER BY name").map { try $0.decode(String.self) }
        }
    }

    public func status(of queue: String) throws -> QueueStatus {
        let stats = try stats(of: queue)
        return try session.withConnection { connection in
            let configuration = try configuration(of: queue, on: connection)
            let now = clock.now().timeIntervalSince1970
            let oldest = try session.run(
                connection,
                "SELECT min(visible_at) FROM \(unescaped: table("messages")) WHERE queue = \(queue) AND receipt IS NULL AND visible_at <= \(now)"
            )[0].decode(Double?.self)
            var deadLetters: Int?
            if let dead = configuration.deadLetterQueue {
                deadLetters = Int(
                    try session.run(connection, "SELECT count(*) FROM \(unescaped: table("messages")) WHERE queue = \(dead)")[0].decode(Int64.self))
            }
            return QueueStatus(
                stats: stats, configuration: configuration, oldestVisibleAge: oldest.map { max(0, now - $0) }, deadLetters: deadLetters)
        }
    }

    public func peek(_ queue: String, count: Int, all: Bool) throws -> [PeekedMessage] {
        try session.withConnection { connection in
            _ = try configuration(of: queue, on: connection)
            let now = clock.now().timeIntervalSince1970
            let entries = try session.run(
                connection, "SELECT \(unescaped: Self.columns) FROM \(unescaped: table("messages")) WHERE queue = \(queue) ORDER BY visible_at, seq"
            ).map { try Entry(row: $0) }
            func state(_ entry: Entry) -> MessageState {
                entry.receipt != nil ? .inflight : entry.visibleAt > now ? .delayed : .ready
            }
            let order: [MessageState] = all ? [.ready, .delayed, .inflight] : [.ready]
            return Array(
                order.flatMap { wanted in
                    entries.filter { state($0) == wanted }.map { entry in
                        PeekedMessage(
                            message: entry.message, state: wanted, receiveCount: entry.receiveCount,
                            time: Date(timeIntervalSince1970: entry.visibleAt), enqueuedAt: entry.enqueuedAt, deadLetters: entry.deadLetters)
                    }
                }.prefix(max(0, count)))
        }
    }

    @discardableResult
    public func redrive(from deadLetterQueue: String, to target: String?) throws -> Int {
        try session.transaction { connection in
            _ = try configuration(of: deadLetterQueue, on: connection)
            if let target { _ = try configuration(of: target, on: connection) }
            let known = Set(try session.run(connection, "SELECT name FROM \(unescaped: table("queues"))").map { try $0.decode(String.self) })
            let entries = try session.run(
                connection,
                "SELECT \(unescaped: Self.columns) FROM \(unescaped: table("messages")) WHERE queue = \(deadLetterQueue) AND receipt IS NULL ORDER BY seq FOR UPDATE"
            ).map { try Entry(row: $0) }
            var moved = 0
            let now = clock.now()
            for entry in entries {
                guard let destination = target ?? entry.deadLetters.last?.queue, known.contains(destination) else { continue }
                _ = try session.run(connection, "DELETE FROM \(unescaped: table("messages")) WHERE seq = \(entry.seq)")
                try insert(entry.message, into: destination, at: now, delay: 0, deadLetters: entry.deadLetters, on: connection)
                moved += 1
            }
            return moved
        }
    }

    @discardableResult
    public func replay(archive archiveQueue: String, to target: String, since: Date?) throws -> Int {
        try session.transaction { connection in
            _ = try configuration(of: archiveQueue, on: connection)
            _ = try configuration(of: target, on: connection)
            let entries = try session.run(
                connection,
                "SELECT \(unescaped: Self.columns) FROM \(unescaped: table("messages")) WHERE queue = \(archiveQueue) ORDER BY published_at, seq"
            ).map { try Entry(row: $0) }
            var copied = 0
            let now = clock.now()
            for entry in entries {
                if let since, entry.message.publishedAt < since { continue }
                try insert(entry.message, into: target, at: now, delay: 0, deadLetters: [], on: connection)
                copied += 1
            }
            return copied
        }
    }

    @discardableResult
    public func purge(_ queue: String) throws -> Int {
        try session.transaction { connection in
            _ = try configuration(of: queue, on: connection)
            return try session.run(connection, "DELETE FROM \(unescaped: table("messages")) WHERE queue = \(queue) RETURNING seq").count
        }
    }

    /// Counts the messages and reports rows of queues that do not exist (a database edited by hand);
    /// with `repair`, deletes those rows. Transactions leave nothing half written to sweep.
    public func check(repair: Bool, tmpAge: TimeInterval) throws -> CheckReport {
        try session.transaction { connection in
            var report = CheckReport()
            report.messagesChecked = Int(try session.run(connection, "SELECT count(*) FROM \(unescaped: table("messages"))")[0].decode(Int64.self))
            let orphans = try session.run(
                connection,
                """
                SELECT queue, count(*) FROM \(unescaped: table("messages")) m WHERE NOT EXISTS
                (SELECT 1 FROM \(unescaped: table("queues")) q WHERE q.name = m.queue) GROUP BY queue ORDER BY queue
                """)
            for row in orphans {
                let (queue, count) = try row.decode((String, Int64).self)
                if repair {
                    _ = try session.run(connection, "DELETE FROM \(unescaped: table("messages")) WHERE queue = \(queue)")
                    report.repairs.append("deleted \(count) message(s) of missing queue \(queue)")
                } else {
                    report.problems.append("\(count) message(s) belong to missing queue \(queue)")
                }
            }
            return report
        }
    }

    // MARK: Helpers

    private func configuration(of queue: String, on connection: PostgresConnection) throws -> QueueConfiguration {
        guard
            let row = try session.run(
                connection,
                "SELECT visibility_timeout, max_receive_count, dead_letter_queue, retention FROM \(unescaped: table("queues")) WHERE name = \(queue)"
            ).first
        else { throw BusError(.notFound, operation: "open queue \(queue)", hint: "Create the queue first.") }
        let (timeout, maxReceives, dead, retention) = try row.decode((Double, Int64, String?, Double?).self)
        return QueueConfiguration(
            visibilityTimeout: timeout, maxReceiveCount: Int(clamping: maxReceives), deadLetterQueue: dead, retention: retention)
    }

    private func stale(_ message: ReceivedMessage, _ operation: String) -> BusError {
        BusError(
            .staleReceipt, operation: "\(operation) \(message.message.id) in \(message.queue)",
            hint: "The claim is gone: its visibility timeout ran out or it was already settled.")
    }

    static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        encoder.dateEncodingStrategy = .secondsSince1970
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        do {
            return try decoder.decode(type, from: Data(text.utf8))
        } catch {
            throw BusError(.corrupt, operation: "decode a stored \(type)", hint: "The bus table holds text this version cannot read: \(error)")
        }
    }

    /// One stored message copy.
    struct Entry {
        var seq: Int64
        var message: BusMessage
        var enqueuedAt: Date
        var visibleAt: Double
        var receiveCount: Int
        var receipt: String?
        var deadLetters: [DeadLetterRecord]

        init(row: PostgresRow) throws {
            let (seq, id, topic, attributes, body, published, enqueued, visible, receives, receipt, history) = try row.decode(
                (Int64, String, String, String, ByteBuffer, Double, Double, Double, Int64, String?, String).self)
            self.seq = seq
            message = BusMessage(
                id: id, topic: topic, attributes: try PostgresBus.decode([String: String].self, attributes), body: Data(body.readableBytesView),
                publishedAt: Date(timeIntervalSince1970: published))
            enqueuedAt = Date(timeIntervalSince1970: enqueued)
            visibleAt = visible
            receiveCount = Int(receives)
            self.receipt = receipt
            deadLetters = try PostgresBus.decode([DeadLetterRecord].self, history)
        }
    }
}

/// Long polls waiting for a publish: a LISTEN connection bumps a generation on every NOTIFY and
/// wakes the waiters (a waiter then claims again; a missed notification costs at most its timeout).
final class Wakeups: Sendable {
    private let state = Mutex<(generation: UInt64, waiters: [UInt64: CheckedContinuation<Void, Never>], next: UInt64)>((0, [:], 0))
    private let listener = Mutex<(connection: PostgresConnection?, context: PostgresListenContext?)>((nil, nil))

    var generation: UInt64 { state.withLock { $0.generation } }

    /// What `relistenIfClosed` needs to listen again, and when it last tried.
    private let source = Mutex<(session: PostgresSession, channel: String, logger: Logger, lastTry: ContinuousClock.Instant)?>(nil)

    func listen(session: PostgresSession, channel: String, logger: Logger) throws {
        source.withLock { $0 = (session, channel, logger, .now) }
        let connection = try session.connect()
        let context = connection.addListener(channel: channel) { [weak self] _, _ in self?.wakeAll() }
        _ = try session.run(connection, PostgresQuery(unsafeSQL: "LISTEN \"\(channel)\""))
        listener.withLock { $0 = (connection, context) }
    }

    /// Listens again when the server dropped the listening connection (a restart), at most every
    /// two seconds; until then long polls fall back to polling, so nothing waits on a dead channel.
    func relistenIfClosed() {
        guard listener.withLock({ $0.connection?.isClosed ?? false }) else { return }
        guard
            let (session, channel, logger) = source.withLock({ source -> (PostgresSession, String, Logger)? in
                guard let current = source, ContinuousClock.now - current.lastTry >= .seconds(2) else { return nil }
                source?.lastTry = .now
                return (current.session, current.channel, current.logger)
            })
        else { return }
        do {
            try listen(session: session, channel: channel, logger: logger)
            logger.notice("listening for publishes again", metadata: ["db.channel": "\(channel)"])
            wakeAll()  // anything published while the channel was down is found at once
        } catch {
            logger.debug("cannot listen yet", metadata: ["error": "\(error)"])
        }
    }

    func stop() {
        let (connection, context) = listener.withLock { $0 }
        context?.stop()
        try? connection?.close().wait()
    }

    func wakeAll() {
        let waiters = state.withLock { state in
            state.generation &+= 1
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns when the generation moves past `generation` or `timeout` passes.
    func wait(after generation: UInt64, timeout: Duration) async {
        guard timeout > .zero else { return }
        relistenIfClosed()
        let id = state.withLock { state -> UInt64 in
            state.next &+= 1
            return state.next
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    let resumeNow = self.state.withLock { state -> Bool in
                        if state.generation != generation { return true }
                        state.waiters[id] = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                if let waiter = self.state.withLock({ $0.waiters.removeValue(forKey: id) }) { waiter.resume() }
            }
            await group.next()
            group.cancelAll()
        }
    }
}

/// When each queue's upkeep last ran in this process, by the bus clock (so tests on a manual
/// clock see it run whenever they move time on by a second or more).
final class MaintenanceSchedule: Sendable {
    private let last = Mutex<[String: Double]>([:])
    static let interval = 1.0

    /// True (and the time recorded) when `queue` was not maintained in the last second.
    func isDue(_ queue: String, now: Double) -> Bool {
        last.withLock { times in
            if let previous = times[queue], now >= previous, now - previous < Self.interval { return false }
            times[queue] = now
            return true
        }
    }
}
