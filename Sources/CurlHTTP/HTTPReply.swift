import Foundation

/// A finished HTTP exchange (any status code).
public struct HTTPReply: Sendable {
    /// The final status code (0 for file://).
    public var status: Int
    /// The final status line's reason phrase, e.g. "Not Found".
    public var reason: String
    /// Headers of the final response, names lower-cased.
    public var headers: [String: String]
    public var contentType: String? { headers["content-type"] }
    /// The URL after redirects.
    public var effectiveURL: String
    public var redirects: Int
    /// The body (at most the request's `maxBodyBytes`).
    public var body: Data
    /// Connections libcurl had to open for this exchange (0 when a kept-alive one was reused).
    public var newConnections: Int

    public init(
        status: Int, reason: String, headers: [String: String], effectiveURL: String, redirects: Int,
        body: Data, newConnections: Int
    ) {
        self.status = status
        self.reason = reason
        self.headers = headers
        self.effectiveURL = effectiveURL
        self.redirects = redirects
        self.body = body
        self.newConnections = newConnections
    }

    /// Whether the status is 2xx.
    public var isSuccess: Bool { (200..<300).contains(status) }

    /// The one rule for statuses worth retrying: 408 Request Timeout, 429 Too Many Requests and
    /// every 5xx. Anything else says the request itself is wrong.
    public static func isTransient(status: Int) -> Bool { status == 408 || status == 429 || (500..<600).contains(status) }

    /// `Retry-After` in delta-seconds form (the HTTP-date form is ignored: backoff applies).
    public var retryAfter: TimeInterval? {
        guard let value = headers["retry-after"], let seconds = Int(value.trimmingCharacters(in: .whitespaces)), seconds >= 0 else {
            return nil
        }
        return TimeInterval(seconds)
    }
}
