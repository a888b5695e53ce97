import Foundation

/// Everything that can go wrong opening or querying the label store, with what to do about it.
public enum LabelStoreError: Error, CustomStringConvertible, Equatable {
    /// The database file does not exist (read-only open).
    case databaseMissing(path: String)
    /// The database was migrated by a newer program than this one.
    case schemaNewer(path: String, unknownMigrations: [String])
    /// The database lacks migrations this program needs and was opened read-only, so it cannot migrate.
    case schemaOlder(path: String, missingMigrations: [String])
    /// An id prefix matches several images.
    case ambiguousPrefix(prefix: String, candidates: [String])
    /// An id prefix that cannot be an image id (ids are lowercase hex SHA-256).
    case invalidIDPrefix(String)
    /// The query itself is malformed.
    case invalidQuery(String)
    /// SQLite or the file system failed.
    case database(path: String, operation: String, underlying: String)

    /// The message users see, with what to do.
    public var description: String {
        switch self {
        case .databaseMissing(let path):
            return "no label database at \(path) — run the pipeline first or pass --home"
        case .schemaNewer(let path, let unknown):
            return
                "database schema is newer than this list-images; upgrade (\(path) has migrations this build does not know: \(unknown.joined(separator: ", ")))"
        case .schemaOlder(let path, let missing):
            return
                "database schema at \(path) is older than this program (missing migrations: \(missing.joined(separator: ", "))); start a recognize worker once to upgrade it"
        case .ambiguousPrefix(let prefix, let candidates):
            return "id prefix '\(prefix)' is ambiguous; it matches:\n" + candidates.map { "  \($0)" }.joined(separator: "\n")
                + "\ngive more characters of the id"
        case .invalidIDPrefix(let prefix):
            return "'\(prefix)' is not an image id or id prefix (expected hexadecimal characters of a SHA-256)"
        case .invalidQuery(let reason):
            return "invalid query: \(reason)"
        case .database(let path, let operation, let underlying):
            return "label database \(path): \(operation) failed: \(underlying)"
        }
    }
}
