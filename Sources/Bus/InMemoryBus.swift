import Foundation
import Logging

/// A bus held in memory with the same semantics as `FileBus` (fan-out with filters, visibility
/// timeouts, receive counts, dead letters, delays, retention), for fast unit tests of workers
/// and handlers. Time comes from an injectable clock; nothing survives the process.
public final class InMemoryBus: BusAdministration, @unchecked Sendable {
    private struct Entry {
        var message: BusMessage
        var enqueuedAt: Date
        var visibleAt: Date
        var receiveCount: Int
        var receipt: String?
        var deadLetters: [DeadLetterRecord]
        var sequence: Int
    }

    private struct Queue {
        var configuration: QueueConfiguration
        var entries: [Entry] = []
    }

    private let lock = NSLock()
    private let clock: BusClock
    private let logger: Logger
    private var queueTable: [String: Queue] = [:]
    private var subscriptions: [String: [(queue: String, filter: AttributeFilter)]] = [:]
    private var sequence = 0

    /// An empty bus reading time from `clock`.
    public init(clock: BusClock = .system, logger: Logger = Logger(label: "bus.memory")) {
        self.clock = clock
        self.logger = logger
    }

    public func createQueue(_ name: String, configuration: QueueConfiguration) throws {
        try BusNames.validate(name, what: "queue")
        lock.withLock {
            if let dead = configuration.deadLetterQueue, queueTable[dead] == nil {
                queueTable[dead] = Queue(configuration: QueueConfiguration(maxReceiveCount: Int.max, deadLetterQueue: nil, retention: nil))
            }
            if queueTable[name] == nil {
                queueTable[name] = Queue(configuration: configuration)
            } else {
                queueTable[name]?.configuration = configuration
            }
        }
    }

    public func subscribe(queue: String, to topic: String, filter: AttributeFilter) throws {
        try BusNames.validate(topic, what: "topic")
        try lock.withLock {
            guard queueTable[queue] != nil else { throw missing(queue) }
            var list = subscriptions[topic, default: []].filter { $0.queue != queue }
            list.append((queue, filter))
            subscriptions[topic] = list
        }
    }

    @discardableResult
    public func publish(topic: String, body: Data, attributes: [String: String], id: String?) throws -> BusMessage {
        try BusNames.validate(topic, what: "topic")
        let now = clock.now()
        let message = BusMessage(id: id ?? BusNames.newID(at: now), topic: topic, attributes: attributes, body: body, publishedAt: now)
        try BusNames.validateID(message.id)
        lock.withLock {
            for subscription in subscriptions[topic, default: []] where subscription.filter.matches(attributes) {
                enqueue(message, in: subscription.queue, at: now, delay: 0, deadLetters: [])
            }
        }
        return message
    }

    public func send(_ message: BusMessage, to queue: String, delay: TimeInterval) throws {
        try BusNames.validateID(message.id)
        try lock.withLock {
            guard queueTable[queue] != nil else { throw missing(queue) }
            enqueue(message, in: queue, at: clock.now(), delay: delay, deadLetters: [])
        }
    }

    public func receive(
        from queue: String, maxMessages: Int, visibilityTimeout: TimeInterval?,
        wait: TimeInterval
    ) async throws -> [ReceivedMessage] {
        let deadline = ContinuousClock.now + .milliseconds(Int64(max(0, wait) * 1000))
        while true {
            let batch = try lock.withLock { try claim(queue, maxMessages: max(1, maxMessages), visibilityTimeout: visibilityTimeout) }
            if !batch.isEmpty || ContinuousClock.now >= deadline || Task.isCancelled { return batch }
            do { try await Task.sleep(for: min(.milliseconds(10), deadline - ContinuousClock.now)) } catch { return [] }
        }
    }

    public func delete(_ message: ReceivedMessage) throws {
        try lock.withLock {
            let index = try claimIndex(of: message, operation: "ack")
            queueTable[message.queue]?.entries.remove(at: index)
        }
    }

    public func release(_ message: ReceivedMessage, delay: TimeInterval) throws {
        try lock.withLock {
            let index = try claimIndex(of: message, operation: "release")
            guard var queue = queueTable[message.queue] else { throw missing(message.queue) }
            let entry = queue.entries[index]
            if entry.receiveCount >= queue.configuration.maxReceiveCount {
                deadLetter(
                    at: index, in: message.queue,
                    reason: "released after \(entry.receiveCount) receives (maxReceiveCount \(queue.configuration.maxReceiveCount))")
                return
            }
            queue.entries[index].receipt = nil
            queue.entries[index].visibleAt = clock.now() + max(0, delay)
            queueTable[message.queue] = queue
        }
    }

    public func deadLetter(_ message: ReceivedMessage, reason: String) throws {
        try lock.withLock {
            let index = try claimIndex(of: message, operation: "dead-letter")
            deadLetter(at: index, in: message.queue, reason: reason)
        }
    }

    public func stats(of queue: String) throws -> QueueStats {
        try lock.withLock {
            guard queueTable[queue] != nil else { throw missing(queue) }
            let now = clock.now()
            maintain(queue, now: now)
            let entries = queueTable[queue]?.entries ?? []
            return QueueStats(
                queue: queue,
                visible: entries.filter { $0.receipt == nil && $0.visibleAt <= now }.count,
                inFlight: entries.filter { $0.receipt != nil }.count,
                delayed: entries.filter { $0.receipt == nil && $0.visibleAt > now }.count)
        }
    }

    // MARK: Administration

    public func topics() throws -> [TopicInfo] {
        lock.withLock {
            subscriptions.keys.sorted().map { topic in
                TopicInfo(
                    name: topic, subscriptions: subscriptions[topic, default: []].map { SubscriptionInfo(queue: $0.queue, filter: $0.filter) },
                    pendingFanOuts: 0)  // publishing is one step in memory: never half done
            }
        }
    }

    public func queues() throws -> [String] { lock.withLock { queueTable.keys.sorted() } }

    public func status(of queue: String) throws -> QueueStatus {
        let stats = try stats(of: queue)
        return try lock.withLock {
            guard let configuration = queueTable[queue]?.configuration else { throw missing(queue) }
            let now = clock.now()
            let oldest = queueTable[queue]?.entries.filter { $0.receipt == nil && $0.visibleAt <= now }.map(\.visibleAt).min()
            let deadLetters = configuration.deadLetterQueue.flatMap { queueTable[$0]?.entries.count }
            return QueueStatus(
                stats: stats, configuration: configuration,
                oldestVisibleAge: oldest.map { max(0, now.timeIntervalSince($0)) }, deadLetters: deadLetters)
        }
    }

    public func peek(_ queue: String, count: Int, all: Bool) throws -> [PeekedMessage] {
        try lock.withLock {
            guard let entries = queueTable[queue]?.entries else { throw missing(queue) }
            let now = clock.now()
            func state(_ entry: Entry) -> MessageState {
                entry.receipt != nil ? .inflight : entry.visibleAt > now ? .delayed : .ready
            }
            let order: [MessageState] = all ? [.ready, .delayed, .inflight] : [.ready]
            let sorted = entries.sorted { ($0.visibleAt, $0.sequence) < ($1.visibleAt, $1.sequence) }
            return Array(
                order.flatMap { wanted in
                    sorted.filter { state($0) == wanted }.map { entry in
                        PeekedMessage(
                            message: entry.message, state: wanted, receiveCount: entry.receiveCount, time: entry.visibleAt,
                            enqueuedAt: entry.enqueuedAt, deadLetters: entry.deadLetters)
                    }
                }.prefix(max(0, count)))
        }
    }

    @discardableResult
    public func redrive(from deadLetterQueue: String, to target: String?) throws -> Int {
        try lock.withLock {
            guard let entries = queueTable[deadLetterQueue]?.entries else { throw missing(deadLetterQueue) }
            if let target, queueTable[target] == nil { throw missing(target) }
            var moved = 0
            var kept: [Entry] = []
            for entry in entries {
                guard entry.receipt == nil, let destination = target ?? entry.deadLetters.last?.queue, queueTable[destination] != nil else {
                    kept.append(entry)
                    continue
                }
                enqueue(entry.message, in: destination, at: clock.now(), delay: 0, deadLetters: entry.deadLetters)
                moved += 1
            }
            queueTable[deadLetterQueue]?.entries = kept
            return moved
        }
    }

    @discardableResult
    public func replay(archive archiveQueue: String, to target: String, since: Date?) throws -> Int {
        try lock.withLock {
            guard let entries = queueTable[archiveQueue]?.entries else { throw missing(archiveQueue) }
            guard queueTable[target] != nil else { throw missing(target) }
            var copied = 0
            for entry in entries.sorted(by: { $0.message.publishedAt < $1.message.publishedAt }) {
                if let since, entry.message.publishedAt < since { continue }
                enqueue(entry.message, in: target, at: clock.now(), delay: 0, deadLetters: [])
                copied += 1
            }
            return copied
        }
    }

    @discardableResult
    public func purge(_ queue: String) throws -> Int {
        try lock.withLock {
            guard let count = queueTable[queue]?.entries.count else { throw missing(queue) }
            queueTable[queue]?.entries.removeAll()
            return count
        }
    }

    /// Memory has no leftovers of crashed writers; the check only counts the messages and
    /// reports subscriptions to queues that do not exist.
    public func check(repair: Bool, tmpAge: TimeInterval) throws -> CheckReport {
        lock.withLock {
            var report = CheckReport()
            report.messagesChecked = queueTable.values.reduce(0) { $0 + $1.entries.count }
            for (topic, list) in subscriptions.sorted(by: { $0.key < $1.key }) {
                for subscription in list where queueTable[subscription.queue] == nil {
                    report.problems.append("topic \(topic) is subscribed by missing queue \(subscription.queue)")
                }
            }
            return report
        }
    }

    // MARK: Internals (called with the lock held)

    private func enqueue(_ message: BusMessage, in queue: String, at now: Date, delay: TimeInterval, deadLetters: [DeadLetterRecord]) {
        sequence += 1
        queueTable[queue]?.entries.append(
            Entry(
                message: message, enqueuedAt: now, visibleAt: now + max(0, delay), receiveCount: 0,
                receipt: nil, deadLetters: deadLetters, sequence: sequence))
    }

    private func claim(_ name: String, maxMessages: Int, visibilityTimeout: TimeInterval?) throws -> [ReceivedMessage] {
        guard let configuration = queueTable[name]?.configuration else { throw missing(name) }
        let now = clock.now()
        maintain(name, now: now)
        guard var queue = queueTable[name] else { return [] }
        let order = queue.entries.indices
            .filter { queue.entries[$0].receipt == nil && queue.entries[$0].visibleAt <= now }
            .sorted { (queue.entries[$0].visibleAt, queue.entries[$0].sequence) < (queue.entries[$1].visibleAt, queue.entries[$1].sequence) }
        var result: [ReceivedMessage] = []
        for index in order.prefix(maxMessages) {
            queue.entries[index].receiveCount += 1
            let receipt = UUID().uuidString
            queue.entries[index].receipt = receipt
            queue.entries[index].visibleAt = now + max(0, visibilityTimeout ?? configuration.visibilityTimeout)
            result.append(
                ReceivedMessage(
                    message: queue.entries[index].message, queue: name,
                    receiveCount: queue.entries[index].receiveCount, receipt: receipt))
        }
        queueTable[name] = queue
        return result
    }

    /// Times out expired claims (dead-lettering those past maxReceiveCount) and drops expired messages.
    private func maintain(_ name: String, now: Date) {
        guard let queue = queueTable[name] else { return }
        let configuration = queue.configuration
        if let retention = configuration.retention {
            queueTable[name]?.entries.removeAll { $0.receipt == nil && $0.enqueuedAt < now - retention }
        }
        while let index = queueTable[name]?.entries.firstIndex(where: {
            $0.receipt != nil && $0.visibleAt <= now && $0.receiveCount >= configuration.maxReceiveCount
        }), let count = queueTable[name]?.entries[index].receiveCount {
            deadLetter(
                at: index, in: name,
                reason: "received \(count) times without an ack (maxReceiveCount \(configuration.maxReceiveCount))")
        }
        for index in queueTable[name]?.entries.indices ?? 0..<0
        where queueTable[name]?.entries[index].receipt != nil
            && (queueTable[name]?.entries[index].visibleAt ?? now) <= now
        {
            queueTable[name]?.entries[index].receipt = nil
        }
    }

    private func deadLetter(at index: Int, in name: String, reason: String) {
        guard let entry = queueTable[name]?.entries.remove(at: index) else { return }
        guard let dead = queueTable[name]?.configuration.deadLetterQueue else {
            logger.warning(
                "message dropped: its queue has no dead-letter queue", metadata: ["queue": "\(name)", "message.id": "\(entry.message.id)"])
            return
        }
        let now = clock.now()
        let record = DeadLetterRecord(queue: name, reason: reason, receiveCount: entry.receiveCount, at: now)
        enqueue(entry.message, in: dead, at: now, delay: 0, deadLetters: entry.deadLetters + [record])
    }

    private func claimIndex(of message: ReceivedMessage, operation: String) throws -> Int {
        guard let index = queueTable[message.queue]?.entries.firstIndex(where: { $0.receipt == message.receipt }) else {
            throw BusError(
                .staleReceipt, operation: "\(operation) \(message.message.id) in \(message.queue)",
                hint: "The claim is gone: its visibility timeout ran out or it was already settled.")
        }
        return index
    }

    private func missing(_ queue: String) -> BusError {
        BusError(.notFound, operation: "open queue \(queue)", hint: "Create the queue first.")
    }
}
