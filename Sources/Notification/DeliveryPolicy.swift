import CurlHTTP
import Foundation
import WorkerRuntime

/// Timeouts and the retry schedule of gateway deliveries.
///
/// A received message gets `attempts` tries in-process, with exponential backoff and jitter
/// between them; after that it goes back to the queue with a delay that grows with its
/// receive count, and the queue dead-letters it after `maxReceiveCount` receives. Keep
/// `attempts × timeout` plus the backoffs well under the queue's visibility timeout (60 s).
public struct DeliveryPolicy: Sendable, Equatable {
    /// Tries per received message before handing it back to the queue.
    public var attempts: Int
    /// Backoff before the second try; doubled for each further one.
    public var initialBackoff: TimeInterval
    /// Upper bound of one in-process backoff.
    public var maxBackoff: TimeInterval
    /// A `Retry-After` longer than this is not waited out in-process: the message goes back to
    /// the queue with that delay instead.
    public var maxInProcessWait: TimeInterval
    /// Queue delay after the first failed receive; doubled per further receive.
    public var queueBackoff: TimeInterval
    /// Upper bound of the queue delay.
    public var maxQueueBackoff: TimeInterval
    /// Time allowed to open the TCP connection.
    public var connectTimeout: TimeInterval
    /// Time allowed for the whole exchange.
    public var timeout: TimeInterval

    /// A policy; the defaults suit a local gateway and the notify queue's 60 s visibility timeout.
    public init(
        attempts: Int = 3, initialBackoff: TimeInterval = 0.25, maxBackoff: TimeInterval = 4,
        maxInProcessWait: TimeInterval = 5, queueBackoff: TimeInterval = 5, maxQueueBackoff: TimeInterval = 300,
        connectTimeout: TimeInterval = 5, timeout: TimeInterval = 15
    ) {
        self.attempts = max(1, attempts)
        self.initialBackoff = max(0, initialBackoff)
        self.maxBackoff = max(0, maxBackoff)
        self.maxInProcessWait = max(0, maxInProcessWait)
        self.queueBackoff = max(0, queueBackoff)
        self.maxQueueBackoff = max(0, maxQueueBackoff)
        self.connectTimeout = max(0.001, connectTimeout)
        self.timeout = max(0.001, timeout)
    }

    /// How much of a reply body is kept (enough for an error snippet).
    public static let replyBodyLimit = 64 * 1024

    /// The HTTP limits of one POST to the gateway.
    public var limits: HTTPLimits {
        HTTPLimits(
            connectTimeout: connectTimeout, totalTimeout: timeout, maxBodyBytes: Self.replyBodyLimit,
            userAgent: "notify-xml/1 libcurl")
    }

    /// The wait after failed try number `attempt` (1-based): the pipeline's `Backoff`
    /// (exponential, capped, equal jitter) so that many notifiers failing together spread out.
    public func backoff(afterAttempt attempt: Int) -> TimeInterval {
        Backoff(initial: initialBackoff, maximum: maxBackoff).delay(afterAttempt: attempt)
    }

    /// The queue delay for a message received `receiveCount` times, on the same schedule.
    public func queueDelay(receiveCount: Int) -> TimeInterval {
        Backoff(initial: queueBackoff, maximum: maxQueueBackoff).delay(afterAttempt: receiveCount)
    }
}

/// How one gateway exchange ended, from the notifier's point of view.
public enum DeliveryAttempt: Sendable, Equatable {
    /// 2xx: the gateway has the message (or already had it).
    case delivered(status: Int)
    /// Worth trying again: timeouts, connection failures, 408, 429, 5xx.
    case transient(reason: String, retryAfter: TimeInterval?)
    /// Trying again cannot help: any other status.
    case permanent(reason: String)

    /// Classifies a reply by status.
    public static func classify(_ reply: HTTPReply) -> DeliveryAttempt {
        if reply.isSuccess { return .delivered(status: reply.status) }
        if HTTPReply.isTransient(status: reply.status) {
            return .transient(reason: "gateway answered \(reply.status)\(snippet(reply.body))", retryAfter: reply.retryAfter)
        }
        return .permanent(reason: "gateway rejected the notification with \(reply.status)\(snippet(reply.body))")
    }

    /// Classifies a transport failure: always transient (a refused connection, a reset or a
    /// timeout says nothing about the message; a wrong URL is caught at start-up).
    public static func classify(_ error: HTTPClientError, url: String) -> DeliveryAttempt {
        .transient(reason: "POST \(url) failed: \(error)", retryAfter: nil)
    }

    /// `: <first 200 characters of the body, on one line>` or nothing.
    static func snippet(_ body: Data) -> String {
        let text = String(decoding: body.prefix(600), as: UTF8.self)
            .split(whereSeparator: \.isNewline).joined(separator: " ")
            .trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty else { return "" }
        return ": " + (text.count > 200 ? String(text.prefix(200)) + "…" : text)
    }
}
