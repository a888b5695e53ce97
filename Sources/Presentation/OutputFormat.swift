/// How a command writes its results: the one `--format` of list-images and bus-admin.
public enum OutputFormat: String, Sendable, CaseIterable {
    /// Aligned columns for people, fitted to the terminal width (`text` is accepted too).
    case table
    /// One pretty-printed JSON document.
    case json
    /// One compact JSON object per line.
    case ndjson
    /// RFC 4180 CSV with a header row.
    case csv

    /// Parses a `--format` value; `text` is the name bus-admin has always used for `table`.
    public init?(argument: String) {
        if argument == "text" {
            self = .table
        } else {
            self.init(rawValue: argument)
        }
    }
}
