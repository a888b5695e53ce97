import Foundation

/// Makes names safe to show and to use as a file name: no path separators or traversal, no
/// control characters, at most `maxLength` characters.
public enum NameSanitizer {
    /// Longest name kept, in characters.
    public static let maxLength = 120

    /// A safe version of `name`, or nil if nothing usable is left.
    public static func sanitize(_ name: String) -> String? {
        var scalars = String.UnicodeScalarView()
        for scalar in name.unicodeScalars {
            switch scalar.properties.generalCategory {
            case .control, .format, .lineSeparator, .paragraphSeparator, .unassigned, .surrogate, .privateUse:
                continue
            default:
                scalars.append(scalar == "/" || scalar == "\\" ? "_" : scalar)
            }
        }
        var cleaned = String(scalars).trimmingCharacters(in: .whitespaces)
        // Leading dots would make hidden files or "..": drop them all.
        while cleaned.hasPrefix(".") { cleaned.removeFirst() }
        while cleaned.contains("..") { cleaned = cleaned.replacingOccurrences(of: "..", with: ".") }
        cleaned = String(cleaned.prefix(maxLength)).trimmingCharacters(in: .whitespaces)
        return cleaned.isEmpty ? nil : cleaned
    }

    /// The name for a download: the given one if usable, else the URL's last path component,
    /// else "image".
    public static func name(given: String?, url: String) -> String {
        if let given, let safe = sanitize(given) { return safe }
        if let components = URLComponents(string: url) {
            let last = components.percentEncodedPath.split(separator: "/").last.map(String.init) ?? ""
            let decoded = last.removingPercentEncoding ?? last
            if let safe = sanitize(decoded) { return safe }
            if let host = components.host, let safe = sanitize(host) { return safe }
        }
        return "image"
    }
}
