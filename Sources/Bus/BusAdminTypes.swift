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
}

/// Everything an operator wants to know about one queue.
public struct QueueStatus: Codable, Sendable, Equatable {
    public var stats: QueueStats
    public var configuration: QueueConfiguration
    /// Age of the oldest visible message, in seconds (nil: none visible).
    public var oldestVisibleAge: TimeInterval?
    /// Messages waiting in this queue's dead-letter queue (nil: it has none).
    public var deadLetters: Int?
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
}
