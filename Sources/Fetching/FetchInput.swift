import Foundation

/// One thing to fetch: a URL with an optional human name, or a line that could not be read.
public enum FetchInput: Sendable, Equatable {
    /// Download `url`; `name` is the user-given name (sanitised later), if any.
    case request(url: String, name: String?)
    /// An input line that is not a usable request; reported as a failure.
    case invalid(line: String, reason: String)

    /// Parses one input line: `URL` or `URL<TAB>NAME`. Returns nil for blank lines and
    /// `#` comments.
    public static func parse(line rawLine: some StringProtocol) -> FetchInput? {
        let line = String(rawLine).trimmingCharacters(in: CharacterSet(charactersIn: "\r\n"))
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty || trimmed.hasPrefix("#") { return nil }
        let parts = line.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false)
        let url = parts[0].trimmingCharacters(in: .whitespaces)
        let name = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : nil
        let shown = String(trimmed.prefix(200))
        guard !url.isEmpty else { return .invalid(line: shown, reason: "no URL before the tab") }
        if url.contains(where: { $0.isWhitespace || $0.unicodeScalars.contains { $0.properties.generalCategory == .control } }) {
            return .invalid(line: shown, reason: "the URL contains spaces or control characters (separate a name with a tab)")
        }
        guard url.count <= 8192 else { return .invalid(line: shown, reason: "URL longer than 8192 characters") }
        return .request(url: url, name: name.flatMap { $0.isEmpty ? nil : $0 })
    }

    /// The URL or the raw line, for result lines.
    public var displayURL: String {
        switch self {
        case .request(let url, _): return url
        case .invalid(let line, _): return line
        }
    }
}
