import CCurl
import Foundation

/// A libcurl result code, named where the pipeline reacts to it.
public struct CurlCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    init(_ code: CURLcode) { rawValue = Int32(bitPattern: code.rawValue) }

    public static let unsupportedProtocol = CurlCode(CURLE_UNSUPPORTED_PROTOCOL)
    public static let couldNotResolveHost = CurlCode(CURLE_COULDNT_RESOLVE_HOST)
    public static let couldNotConnect = CurlCode(CURLE_COULDNT_CONNECT)
    public static let http2 = CurlCode(CURLE_HTTP2)
    public static let partialFile = CurlCode(CURLE_PARTIAL_FILE)
    public static let writeError = CurlCode(CURLE_WRITE_ERROR)
    public static let operationTimedOut = CurlCode(CURLE_OPERATION_TIMEDOUT)
    public static let tooManyRedirects = CurlCode(CURLE_TOO_MANY_REDIRECTS)
    public static let gotNothing = CurlCode(CURLE_GOT_NOTHING)
    public static let sendError = CurlCode(CURLE_SEND_ERROR)
    public static let receiveError = CurlCode(CURLE_RECV_ERROR)
    public static let fileSizeExceeded = CurlCode(CURLE_FILESIZE_EXCEEDED)
    public static let http2Stream = CurlCode(CURLE_HTTP2_STREAM)

    /// Failures that say nothing about the request: the peer was unreachable, slow, or cut the
    /// connection. Trying again later may work.
    public var isTransient: Bool {
        [.couldNotConnect, .http2, .partialFile, .operationTimedOut, .gotNothing, .sendError, .receiveError, .http2Stream]
            .contains(self)
    }

    /// libcurl's text for the code.
    public var description: String {
        curl_easy_strerror(CURLcode(rawValue: UInt32(bitPattern: rawValue))).map { String(cString: $0) } ?? "CURLcode \(rawValue)"
    }
}

/// Why an exchange produced no reply.
public enum HTTPClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The connection would have gone to an address the request's guard refuses.
    case refusedAddress(address: String, category: AddressCategory, host: String)
    /// The body grew past the limit (stopped while streaming, or refused from Content-Length).
    case tooLarge(limit: Int)
    /// libcurl failed the transfer (connection, timeout, redirects, protocol...).
    case transport(code: CurlCode, message: String)
    /// libcurl could not set the transfer up (a handle, an option, the multi handle refused it).
    case setup(String)
    /// The client was shut down before or while the transfer ran.
    case stopped

    /// Whether trying again later may help.
    public var isTransient: Bool {
        switch self {
        case .transport(let code, _): return code.isTransient
        case .stopped: return true
        case .refusedAddress, .tooLarge, .setup: return false
        }
    }

    public var description: String {
        switch self {
        case .refusedAddress(let address, let category, let host): "connection to \(address) (\(category.rawValue) address, host \(host)) refused"
        case .tooLarge(let limit): "body larger than \(limit) bytes"
        case .transport(let code, let message): "\(message) (CURLcode \(code.rawValue))"
        case .setup(let detail): "libcurl setup failed: \(detail)"
        case .stopped: "the HTTP client is shut down"
        }
    }
}
