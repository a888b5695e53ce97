import Foundation

/// What to download and under which limits.
struct TransferRequest: Sendable {
    var url: String
    var limits: TransferLimits
    var policy: AddressPolicy
}

/// Per-transfer limits, taken from `FetchConfiguration`.
struct TransferLimits: Sendable {
    var connectTimeout: Double
    var totalTimeout: Double
    var lowSpeedLimit: Int
    var lowSpeedTime: Int
    var maxRedirects: Int
    var maxBytes: Int
    var allowFile: Bool
    var userAgent: String
}

/// A finished HTTP exchange (any status code).
struct HTTPReply: Sendable {
    /// The final status code (0 for file://).
    var status: Int
    /// The final status line's reason phrase, e.g. "Not Found".
    var reason: String
    var contentType: String?
    /// The URL after redirects.
    var effectiveURL: String
    var redirects: Int
    var body: Data
}

typealias TransferOutcome = Result<HTTPReply, TransferFailure>

/// Why a transfer did not produce a reply.
enum TransferFailure: Error, Sendable, Equatable {
    /// The connection would have gone to an address the policy refuses.
    case blockedAddress(address: String, category: AddressCategory, host: String)
    /// The body grew past the limit (stopped while streaming or refused from Content-Length).
    case tooLarge(limit: Int)
    /// Any other libcurl error.
    case curl(code: Int, message: String)
    /// The engine was shut down before the transfer started.
    case engineStopped
}
