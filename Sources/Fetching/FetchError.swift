import CurlHTTP
import Foundation
import ImageStore
import Imaging

/// Why one URL could not be fetched and stored; the text says what happened and what to do.
public enum FetchError: Error, Sendable, CustomStringConvertible {
    /// The input line is not a usable URL.
    case invalidInput(line: String, reason: String)
    /// The URL's scheme is not http or https (or file without --allow-file).
    case schemeNotAllowed(url: String, scheme: String)
    /// The connection would go to a non-public address.
    case blockedAddress(url: String, address: String, category: AddressCategory, host: String)
    /// The server answered with a non-2xx status.
    case httpStatus(url: String, status: Int, reason: String)
    /// The body passed the size limit.
    case tooLarge(url: String, limit: Int)
    /// Too many redirects, or a redirect loop.
    case tooManyRedirects(url: String, limit: Int)
    /// A network-level failure; `code` is the CURLcode.
    case transport(url: String, code: Int, message: String)
    /// The body is not an acceptable image.
    case notAnImage(url: String, reason: ImagingError)
    /// The image could not be written to the store.
    case store(url: String, reason: ImageStoreError)
    /// The image was stored but `image.stored` could not be published.
    case publish(url: String, detail: String)
    /// libcurl could not be set up.
    case engine(detail: String)

    /// Whether trying again later may help (5xx, 408, 429, timeouts, resets).
    public var isTransient: Bool {
        switch self {
        case .httpStatus(_, let status, _): return HTTPReply.isTransient(status: status)
        case .transport(_, let code, _): return CurlCode(rawValue: Int32(code)).isTransient
        default: return false
        }
    }

    /// A short reason for result lines, e.g. "404 Not Found".
    public var shortReason: String {
        switch self {
        case .invalidInput(_, let reason): return "invalid input: \(reason)"
        case .schemeNotAllowed(_, let scheme): return "scheme \(scheme) not allowed"
        case .blockedAddress(_, let address, let category, _): return "refused \(category.rawValue) address \(address)"
        case .httpStatus(_, let status, let reason): return reason.isEmpty ? "HTTP \(status)" : "\(status) \(reason)"
        case .tooLarge(_, let limit): return "body larger than \(limit) bytes"
        case .tooManyRedirects(_, let limit): return "more than \(limit) redirects"
        case .transport(_, _, let message): return message
        case .notAnImage(_, let reason): return "\(reason)"
        case .store(_, let reason): return "\(reason)"
        case .publish(_, let detail): return "publish failed: \(detail)"
        case .engine(let detail): return detail
        }
    }

    public var description: String {
        switch self {
        case .invalidInput(let line, let reason):
            return "invalid input line \"\(line)\": \(reason); give one URL per line, optionally followed by a tab and a name"
        case .schemeNotAllowed(let url, let scheme):
            return "\(url): scheme \(scheme) is not allowed; use http or https (file:// only with --allow-file)"
        case .blockedAddress(let url, let address, let category, let host):
            return
                "\(url): connection to \(address) (\(category.rawValue) address, host \(host)) refused by the address policy; pass --allow-private or --allow-host \(host) if this is intended"
        case .httpStatus(let url, let status, let reason):
            return "\(url): server answered \(status) \(reason)"
        case .tooLarge(let url, let limit):
            return "\(url): body larger than \(limit) bytes, download stopped; raise --max-bytes if the image is legitimate"
        case .tooManyRedirects(let url, let limit):
            return "\(url): more than \(limit) redirects (a loop?); raise --max-redirects if the chain is legitimate"
        case .transport(let url, let code, let message):
            return "\(url): \(message) (CURLcode \(code))"
        case .notAnImage(let url, let reason):
            return "\(url): \(reason)"
        case .store(let url, let reason):
            return "\(url): \(reason)"
        case .publish(let url, let detail):
            return "\(url): image stored but image.stored could not be published: \(detail); the file was removed, fetch again"
        case .engine(let detail):
            return "libcurl could not start: \(detail); check the libcurl installation"
        }
    }
}
