import Foundation

/// How the sink listens, where it stores, and how it misbehaves on purpose.
public struct MailSinkConfiguration: Sendable {
    /// TCP port on 127.0.0.1; 0 picks a free one.
    public var port: UInt16
    /// Directory of stored messages.
    public var outbox: URL
    /// Misbehaviour at start (changeable at runtime through POST /control).
    public var faults: FaultSettings
    /// Largest accepted body.
    public var maxBodyBytes: Int

    /// A configuration listening on `port` and storing into `outbox`.
    public init(port: UInt16 = 8025, outbox: URL, faults: FaultSettings = FaultSettings(), maxBodyBytes: Int = 1 << 20) {
        self.port = port
        self.outbox = outbox
        self.faults = faults
        self.maxBodyBytes = maxBodyBytes
    }
}

/// Deliberate failures for testing a client's retries; also the JSON body of POST /control.
public struct FaultSettings: Codable, Sendable, Equatable {
    /// Answer this many of the next POST /messages with `status` (then behave).
    public var fail: Int
    /// The status of a deliberate failure.
    public var status: Int
    /// Wait this long before answering each POST /messages.
    public var delayMs: Int
    /// `Retry-After` seconds sent with deliberate failures (nil: no header).
    public var retryAfter: Int?

    /// Faults; the defaults are none.
    public init(fail: Int = 0, status: Int = 503, delayMs: Int = 0, retryAfter: Int? = nil) {
        self.fail = max(0, fail)
        self.status = status
        self.delayMs = max(0, delayMs)
        self.retryAfter = retryAfter
    }
}

/// Counts the sink reports at GET /stats.
public struct MailSinkStats: Codable, Sendable, Equatable {
    /// Messages stored.
    public var accepted = 0
    /// Messages whose Idempotency-Key was already stored.
    public var duplicates = 0
    /// Requests refused as invalid (schema, content type, size, key).
    public var rejected = 0
    /// Requests answered with a deliberate failure.
    public var failedOnPurpose = 0
    /// POST /messages being answered right now.
    public var inFlight = 0
    /// The most POST /messages ever answered at once (shows whether clients limit themselves).
    public var peakInFlight = 0
    /// All zero.
    public init() {}
}
