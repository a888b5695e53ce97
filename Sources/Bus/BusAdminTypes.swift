import Foundation

/// A queue subscribed to a topic, as listed by admin tools.
public struct SubscriptionInfo: Codable, Sendable, Equatable {
    public var queue: String
    public var filter: AttributeFilter
    public init(queue: String, filter: AttributeFilter) {
        self.queue = queue
        self.filter = filter
    }
}

/// A topic and its subscriptions.
public struct TopicInfo: Codable, Sendable, Equatable {
    public var name: String
    public var subscriptions: [SubscriptionInfo]
    /// Published messages whose fan-out has not finished (a publisher crashed or is mid-publish).
    public var pendingFanOuts: Int
    public init(name: String, subscriptions: [SubscriptionInfo], pendingFanOuts: Int) {
        self.name = name
        self.subscriptions = subscriptions
        self.pendingFanOuts = pendingFanOuts
    }
}

/// Everything an operator wants to know about one queue.
public struct QueueStatus: Codable, Sendable, Equatable {
    public var stats: QueueStats
    public var configuration: QueueConfiguration
    /// Age of the oldest visible message, in seconds (nil: none visible).
    public var oldestVisibleAge: TimeInterval?
    /// Messages waiting in this queue's dead-letter queue (nil: it has none).
    public var deadLetters: Int?
    public init(stats: QueueStats, configuration: QueueConfiguration, oldestVisibleAge: TimeInterval?, deadLetters: Int?) {
        self.stats = stats
        self.configuration = configuration
        self.oldestVisibleAge = oldestVisibleAge
        self.deadLetters = deadLetters
    }
}

/// Where a peeked message currently is.
public enum MessageState: String, Codable, Sendable {
    case ready, inflight, delayed
}

/// A message looked at without claiming it.
public struct PeekedMessage: Codable, Sendable, Equatable {
    public var message: BusMessage
    public var state: MessageState
    /// Receives so far (in flight: including the current one).
    public var receiveCount: Int
    /// Visible since / from (ready, delayed) or claim deadline (in flight).
    public var time: Date
    /// When this copy entered the queue.
    public var enqueuedAt: Date
    /// Earlier dead-letterings, oldest first.
    public var deadLetters: [DeadLetterRecord]
    public init(
        message: BusMessage, state: MessageState, receiveCount: Int, time: Date, enqueuedAt: Date,
        deadLetters: [DeadLetterRecord]
    ) {
        self.message = message
        self.state = state
        self.receiveCount = receiveCount
        self.time = time
        self.enqueuedAt = enqueuedAt
        self.deadLetters = deadLetters
    }
}

/// What `check` found and, with repair, fixed.
public struct CheckReport: Codable, Sendable, Equatable {
    /// Problems found (after repair: those that remain).
    public var problems: [String] = []
    /// What repair did.
    public var repairs: [String] = []
    /// Message files examined.
    public var messagesChecked = 0
    /// True when no problem remains.
    public var isClean: Bool { problems.isEmpty }

    /// An empty report: nothing checked yet.
    public init() {}
}

/// Operator actions on a bus (`bus-admin`), on whatever backend implements them: looking
/// without claiming, moving dead letters back, replaying archives, purging, integrity checks.
public protocol BusAdministration: MessageBus {
    /// All topics with their subscriptions.
    func topics() throws -> [TopicInfo]
    /// Names of all queues, sorted.
    func queues() throws -> [String]
    /// Stats, configuration, oldest age and dead-letter count of one queue.
    func status(of queue: String) throws -> QueueStatus
    /// Up to `count` messages of `queue`, oldest first, without claiming them: ready ones, then
    /// (with `all`) delayed and in-flight ones.
    func peek(_ queue: String, count: Int, all: Bool) throws -> [PeekedMessage]
    /// Moves every visible message of `deadLetterQueue` back to `target`, or to the queue each
    /// came from; receive counts start again at 0. Returns how many moved.
    @discardableResult
    func redrive(from deadLetterQueue: String, to target: String?) throws -> Int
    /// Copies every message kept in `archiveQueue` published at or after `since` into `target`
    /// (same ids, fresh receive counts); the archive keeps them. Returns how many were copied.
    @discardableResult
    func replay(archive archiveQueue: String, to target: String, since: Date?) throws -> Int
    /// Deletes every message of `queue` (ready, delayed and in flight). Returns how many.
    @discardableResult
    func purge(_ queue: String) throws -> Int
    /// Checks the backend's integrity; with `repair`, fixes what can be fixed. `tmpAge`: leftovers
    /// younger than this many seconds belong to running writers (backends without any ignore it).
    func check(repair: Bool, tmpAge: TimeInterval) throws -> CheckReport
}

extension BusAdministration {
    /// Replays the archive of `topic` (queue `archive.<topic>`) into `target`.
    @discardableResult
    public func replay(topic: String, to target: String, since: Date? = nil) throws -> Int {
        try replay(archive: "archive.\(topic)", to: target, since: since)
    }

    /// `redrive(from:to:)` back to each message's source queue.
    @discardableResult
    public func redrive(from deadLetterQueue: String) throws -> Int { try redrive(from: deadLetterQueue, to: nil) }

    /// `peek(_:count:all:)` of ready messages only.
    public func peek(_ queue: String, count: Int) throws -> [PeekedMessage] { try peek(queue, count: count, all: false) }
}
