import Foundation

/// A message as it travels through the bus: an id, the topic it was published on, string
/// attributes (used by subscription filters) and an opaque body (JSON in this pipeline).
public struct BusMessage: Codable, Sendable, Equatable {
    /// Unique, time-sortable id assigned at publish time.
    public var id: String
    /// Topic the message was published on (empty for a direct `send` to a queue).
    public var topic: String
    /// Attributes that subscription filters match on, e.g. `["type": "image.stored"]`.
    public var attributes: [String: String]
    /// The payload, stored verbatim.
    public var body: Data
    /// When the message was first published.
    public var publishedAt: Date

    public init(id: String, topic: String, attributes: [String: String], body: Data, publishedAt: Date) {
        self.id = id
        self.topic = topic
        self.attributes = attributes
        self.body = body
        self.publishedAt = publishedAt
    }
}

/// A message claimed from a queue. Hidden from other consumers until it is deleted (acked),
/// released, or its visibility timeout runs out.
public struct ReceivedMessage: Sendable {
    /// The message itself.
    public var message: BusMessage
    /// The queue it was received from.
    public var queue: String
    /// How many times this message has been received, this time included (1 on first delivery).
    public var receiveCount: Int
    /// Opaque token naming this particular claim; acks with a stale receipt fail.
    public var receipt: String

    public init(message: BusMessage, queue: String, receiveCount: Int, receipt: String) {
        self.message = message
        self.queue = queue
        self.receiveCount = receiveCount
        self.receipt = receipt
    }
}

/// How a queue treats its messages.
public struct QueueConfiguration: Codable, Sendable, Equatable {
    /// How long a received message stays hidden before it is delivered again.
    public var visibilityTimeout: TimeInterval
    /// After this many receives without an ack the message moves to `deadLetterQueue`.
    public var maxReceiveCount: Int
    /// Queue that receives messages past `maxReceiveCount` (nil: they are dropped with a log line).
    public var deadLetterQueue: String?
    /// Messages older than this are deleted unread (nil: kept forever).
    public var retention: TimeInterval?

    public init(
        visibilityTimeout: TimeInterval = 60, maxReceiveCount: Int = 5,
        deadLetterQueue: String? = nil, retention: TimeInterval? = 14 * 24 * 3600
    ) {
        self.visibilityTimeout = visibilityTimeout
        self.maxReceiveCount = maxReceiveCount
        self.deadLetterQueue = deadLetterQueue
        self.retention = retention
    }
}

/// Which published messages a subscription lets through: every listed attribute must have one
/// of the listed values. An empty filter lets everything through.
public struct AttributeFilter: Codable, Sendable, Equatable {
    public var required: [String: [String]]
    public init(_ required: [String: [String]] = [:]) { self.required = required }
    /// Whether `attributes` pass this filter.
    public func matches(_ attributes: [String: String]) -> Bool {
        required.allSatisfy { key, values in attributes[key].map(values.contains) ?? false }
    }
}

/// Counts describing one queue, for admin views and metrics.
public struct QueueStats: Codable, Sendable, Equatable {
    public var queue: String
    /// Messages ready to be received.
    public var visible: Int
    /// Messages received and not yet acked or timed out.
    public var inFlight: Int
    /// Messages published with a delay that are not yet visible.
    public var delayed: Int
    public init(queue: String, visible: Int, inFlight: Int, delayed: Int) {
        self.queue = queue
        self.visible = visible
        self.inFlight = inFlight
        self.delayed = delayed
    }
}

/// Publish/subscribe topics fanning out to queues with at-least-once delivery.
///
/// The file-backed implementation (`FileBus`) is what the workers use; the protocol exists so
/// that an in-memory bus (tests) or a networked backend can slot in without touching them.
public protocol MessageBus: Sendable {
    /// Creates a queue, or updates its configuration if it exists.
    func createQueue(_ name: String, configuration: QueueConfiguration) throws
    /// Subscribes `queue` to `topic`; messages published afterwards are copied into it.
    func subscribe(queue: String, to topic: String, filter: AttributeFilter) throws
    /// Publishes to a topic: one durable copy per matching subscribed queue. Returns the message.
    ///
    /// `id` nil assigns a fresh time-sortable id. A caller that may publish the same logical
    /// message twice (a redelivered input handled again) passes a deterministic id, so that
    /// downstream de-duplication (e.g. the notifier's Idempotency-Key) recognises the repeat.
    @discardableResult
    func publish(topic: String, body: Data, attributes: [String: String], id: String?) throws -> BusMessage
    /// Publishes several messages, each with the guarantees of `publish`; an implementation may
    /// share durability work among them. If it throws, any of them may have been published:
    /// give them deterministic ids and publish again.
    @discardableResult
    func publish(_ batch: [OutgoingMessage]) throws -> [BusMessage]
    /// Puts a message straight into one queue (used for redrive and replay), optionally delayed.
    func send(_ message: BusMessage, to queue: String, delay: TimeInterval) throws
    /// Claims up to `maxMessages` visible messages, waiting up to `wait` for the first one.
    /// Each is hidden for `visibilityTimeout` (nil: the queue's default).
    func receive(
        from queue: String, maxMessages: Int, visibilityTimeout: TimeInterval?,
        wait: TimeInterval
    ) async throws -> [ReceivedMessage]
    /// Acknowledges a message: it is gone for good.
    func delete(_ message: ReceivedMessage) throws
    /// Gives a message back before its timeout, visible again after `delay` seconds.
    func release(_ message: ReceivedMessage, delay: TimeInterval) throws
    /// Moves a message to the queue's dead-letter queue now, recording `reason`.
    func deadLetter(_ message: ReceivedMessage, reason: String) throws
    /// Counts for one queue.
    func stats(of queue: String) throws -> QueueStats
}

/// A message to publish (see `MessageBus.publish(_:)`).
public struct OutgoingMessage: Sendable {
    public var topic: String
    public var body: Data
    public var attributes: [String: String]
    /// Nil assigns a fresh id.
    public var id: String?
    public init(topic: String, body: Data, attributes: [String: String], id: String? = nil) {
        self.topic = topic
        self.body = body
        self.attributes = attributes
        self.id = id
    }
}

extension MessageBus {
    /// One message after another.
    @discardableResult
    public func publish(_ batch: [OutgoingMessage]) throws -> [BusMessage] {
        try batch.map { try publish(topic: $0.topic, body: $0.body, attributes: $0.attributes, id: $0.id) }
    }

    /// Publishes with a freshly assigned message id.
    @discardableResult
    public func publish(topic: String, body: Data, attributes: [String: String]) throws -> BusMessage {
        try publish(topic: topic, body: body, attributes: attributes, id: nil)
    }
}
