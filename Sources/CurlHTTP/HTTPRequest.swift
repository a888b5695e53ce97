import Foundation

/// One HTTP exchange to run: a GET (downloads) or a POST with a body (notifications), with the
/// limits that keep a hostile or broken server from holding the worker.
public struct HTTPRequest: Sendable {
    public enum Method: String, Sendable {
        case get = "GET"
        case post = "POST"
    }

    /// What happens when the response body passes `limits.maxBodyBytes`.
    public enum Overflow: Sendable {
        /// The transfer stops with `HTTPClientError.tooLarge` (downloads: the body is the point).
        case fail
        /// The first bytes are kept and the rest is read and dropped (a reply snippet for errors).
        case truncate
    }

    public var method: Method
    public var url: String
    /// Request header lines, `Name: value`.
    public var headers: [String]
    /// The POST body (ignored for GET).
    public var body: Data
    public var limits: HTTPLimits
    public var overflow: Overflow
    /// Decides every address a connection is about to be made to (the first and each
    /// redirect's): nil allows all.
    public var addressGuard: (any AddressGuard)?

    /// A GET of `url`; bodies past the limit fail the transfer.
    public static func get(_ url: String, limits: HTTPLimits, addressGuard: (any AddressGuard)? = nil) -> HTTPRequest {
        HTTPRequest(method: .get, url: url, headers: [], body: Data(), limits: limits, overflow: .fail, addressGuard: addressGuard)
    }

    /// A POST of `body` to `url`; a reply body past the limit is truncated.
    public static func post(_ url: String, body: Data, headers: [String], limits: HTTPLimits) -> HTTPRequest {
        HTTPRequest(method: .post, url: url, headers: headers, body: body, limits: limits, overflow: .truncate, addressGuard: nil)
    }

    public init(
        method: Method, url: String, headers: [String], body: Data, limits: HTTPLimits, overflow: Overflow,
        addressGuard: (any AddressGuard)?
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.limits = limits
        self.overflow = overflow
        self.addressGuard = addressGuard
    }
}

/// Time, size and protocol limits of one exchange.
public struct HTTPLimits: Sendable, Equatable {
    /// Seconds to open the connection.
    public var connectTimeout: TimeInterval
    /// Seconds for the whole exchange, redirects included.
    public var totalTimeout: TimeInterval
    /// Abort when fewer than `lowSpeedLimit` bytes/s arrive for `lowSpeedTime` seconds (0: off).
    public var lowSpeedLimit: Int
    public var lowSpeedTime: Int
    /// Whether redirects are followed (otherwise a 3xx is the reply).
    public var followRedirects: Bool
    /// Redirects followed at most; one more fails with `CurlCode.tooManyRedirects`.
    public var maxRedirects: Int
    /// Largest response body kept, after content decoding (so a compressed bomb is caught too).
    public var maxBodyBytes: Int
    /// Schemes the first URL may use; redirects may only ever go to http and https.
    public var protocols: [String]
    public var userAgent: String

    public init(
        connectTimeout: TimeInterval, totalTimeout: TimeInterval, lowSpeedLimit: Int = 0, lowSpeedTime: Int = 0,
        followRedirects: Bool = false, maxRedirects: Int = 0, maxBodyBytes: Int, protocols: [String] = ["http", "https"], userAgent: String
    ) {
        self.connectTimeout = connectTimeout
        self.totalTimeout = totalTimeout
        self.lowSpeedLimit = lowSpeedLimit
        self.lowSpeedTime = lowSpeedTime
        self.followRedirects = followRedirects
        self.maxRedirects = maxRedirects
        self.maxBodyBytes = maxBodyBytes
        self.protocols = protocols
        self.userAgent = userAgent
    }
}

/// Decides whether a connection may be made to an address (server-side request forgery
/// protection): called with the resolved address libcurl is about to connect to.
public protocol AddressGuard: Sendable {
    /// Nil to allow; otherwise the category of the refused address.
    func refusal(of address: IPAddress, host: String) -> AddressCategory?
}
