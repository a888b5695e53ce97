import CurlHTTP
import Foundation

/// Every limit and switch of a fetch run; the defaults are safe for untrusted URLs.
public struct FetchConfiguration: Sendable {
    /// The version in the User-Agent header.
    public static let version = "1.0"

    /// Downloads in flight at once.
    public var parallel: Int = 8
    /// Connections to one host at once (CURLMOPT_MAX_HOST_CONNECTIONS).
    public var maxHostConnections: Int = 8
    /// Seconds to establish a connection.
    public var connectTimeout: Double = 10
    /// Seconds for a whole transfer, redirects included.
    public var totalTimeout: Double = 60
    /// A transfer slower than `lowSpeedLimit` bytes/s for `lowSpeedTime` seconds is dropped.
    public var lowSpeedLimit: Int = 1024
    /// See `lowSpeedLimit`.
    public var lowSpeedTime: Int = 15
    /// Redirects followed before giving up.
    public var maxRedirects: Int = 5
    /// Largest body accepted, checked while streaming (decoded bytes).
    public var maxBytes: Int = 50 << 20
    /// Largest width x height accepted (decompression bombs).
    public var maxPixels: Int = 100_000_000
    /// Whether file:// URLs are accepted (never as a redirect target).
    public var allowFile: Bool = false
    /// Which addresses downloads may connect to.
    public var addressPolicy = AddressPolicy()
    /// Extra attempts after a transient failure (5xx, 408, 429, timeout, reset).
    public var retries: Int = 2
    /// First retry delay in seconds; doubles each attempt, with equal jitter (`Backoff`).
    public var retryBaseDelay: Double = 0.5
    /// Publish `image.stored` even when the image was already stored.
    public var force: Bool = false
    /// The User-Agent header.
    public var userAgent = "image-pipeline-fetch/\(FetchConfiguration.version)"

    /// The defaults.
    public init() {}

    /// The HTTP limits of one download.
    var httpLimits: HTTPLimits {
        HTTPLimits(
            connectTimeout: connectTimeout, totalTimeout: totalTimeout, lowSpeedLimit: lowSpeedLimit,
            lowSpeedTime: lowSpeedTime, followRedirects: true, maxRedirects: maxRedirects, maxBodyBytes: maxBytes,
            protocols: allowFile ? ["http", "https", "file"] : ["http", "https"], userAgent: userAgent)
    }
}
