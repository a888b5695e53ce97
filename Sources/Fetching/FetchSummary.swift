import Foundation

/// Counts for a whole run.
public struct FetchSummary: Sendable, Equatable, Codable, CustomStringConvertible {
    public var ok = 0
    public var duplicates = 0
    public var failed = 0
    /// Wall-clock seconds of the run.
    public var seconds: Double = 0

    public init() {}

    /// Every input, whatever its outcome.
    public var total: Int { ok + duplicates + failed }
    /// Exit status: 0 when every input succeeded (duplicates included), 2 otherwise.
    public var exitCode: Int32 { failed == 0 ? 0 : 2 }

    /// Counts one more result.
    public mutating func add(_ result: FetchResult) {
        switch result.status {
        case .ok: ok += 1
        case .duplicate: duplicates += 1
        case .failed: failed += 1
        }
    }

    /// `12 ok, 1 duplicate, 2 failed in 1.3 s`
    public var description: String {
        "\(ok) ok, \(duplicates) duplicate\(duplicates == 1 ? "" : "s"), \(failed) failed in \(String(format: "%.1f", seconds)) s"
    }
}
