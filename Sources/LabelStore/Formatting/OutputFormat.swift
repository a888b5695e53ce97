/// How `list-images` writes its results.
public enum OutputFormat: String, Sendable, CaseIterable {
    /// Aligned columns for people, fitted to the terminal width.
    case table
    /// One pretty-printed JSON array (or object for `show`).
    case json
    /// One compact JSON object per line.
    case ndjson
    /// RFC 4180 CSV with a header row.
    case csv
}
