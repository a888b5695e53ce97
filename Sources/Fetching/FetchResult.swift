import Foundation

/// The outcome for one input: stored, already stored, or failed with a reason.
public struct FetchResult: Sendable, Codable, Equatable {
    /// The three outcomes.
    public enum Status: String, Sendable, Codable {
        /// Downloaded, verified, stored and published.
        case ok
        /// Identical bytes were already stored (counts as success; published again only with --force).
        case duplicate
        /// Not stored; `error` says why.
        case failed
    }

    public var status: Status
    /// The URL as given (or the raw input line).
    public var url: String
    public var name: String?
    public var imageID: String?
    public var width: Int?
    public var height: Int?
    public var contentType: String?
    public var byteSize: Int?
    public var storedPath: String?
    /// Whether `image.stored` was published for this input.
    public var published: Bool
    /// Download attempts made (0 when the input was refused before downloading).
    public var attempts: Int
    /// The final HTTP status, when a server answered.
    public var httpStatus: Int?
    /// Short failure reason for result lines.
    public var error: String?
    /// Whether the failure was transient (retried until attempts ran out).
    public var transient: Bool?

    /// A failure result.
    public static func failure(url: String, name: String?, error: FetchError, attempts: Int, httpStatus: Int? = nil) -> FetchResult {
        FetchResult(
            status: .failed, url: url, name: name, published: false, attempts: attempts,
            httpStatus: httpStatus, error: error.shortReason, transient: error.isTransient)
    }

    /// Whether this counts as success for the exit code.
    public var succeeded: Bool { status != .failed }

    /// One text line: `ok  <id12>  cat.jpg  640x480  URL` or `FAIL  URL  reason`.
    public var textLine: String {
        switch status {
        case .ok, .duplicate:
            let tag = status == .ok ? "ok" : "dup"
            let id = imageID.map { String($0.prefix(12)) } ?? "-"
            let size = width.flatMap { w in height.map { "\(w)x\($0)" } } ?? "-"
            return "\(tag)  \(id)  \(name ?? "-")  \(size)  \(url)"
        case .failed:
            return "FAIL  \(url)  \(error ?? "unknown error")"
        }
    }

    /// One JSON object on one line (sorted keys).
    public var jsonLine: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
