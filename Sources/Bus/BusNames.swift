import Foundation

/// Rules for queue, topic and message-id names, which become file names. Public for the other
/// bus backends (PostgreSQL), which keep the same rules so a bus can move between backends.
public enum BusNames {
    /// Queue and topic names: letters, digits, `.`, `_`, `-`; not starting with `.`; ≤ 100 chars.
    public static func validate(_ name: String, what: String) throws {
        let allowed = name.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                || c == 0x2E || c == 0x5F || c == 0x2D
        }
        guard !name.isEmpty, name.utf8.count <= 100, allowed, !name.hasPrefix(".") else {
            throw BusError(
                .invalidName, operation: "use \(what) name \"\(name)\"",
                hint: "Use 1-100 letters, digits, '.', '_' or '-', not starting with '.'.")
        }
    }

    /// Message ids: no `/`, no NUL, not starting with `.`, ≤ 150 bytes (they end file names).
    public static func validateID(_ id: String) throws {
        guard !id.isEmpty, id.utf8.count <= 150, !id.hasPrefix("."),
            !id.utf8.contains(0x2F), !id.utf8.contains(0)
        else {
            throw BusError(
                .invalidName, operation: "use message id \"\(id)\"",
                hint: "Message ids must be 1-150 bytes without '/' and not start with '.'.")
        }
    }

    /// A fresh, time-sortable id: microseconds since 1970 (16 digits) and 8 random hex digits.
    public static func newID(at date: Date) -> String {
        "\(TimeCode.encode(date))-\(randomHex(8))"
    }

    static func randomHex(_ digits: Int) -> String {
        var text = ""
        while text.count < digits { text += String(UInt64.random(in: 0...UInt64.max), radix: 16) }
        return String(text.prefix(digits))
    }
}

/// Times in file names: microseconds since 1970, zero-padded to 16 digits so names sort by time.
enum TimeCode {
    static func encode(_ date: Date) -> String {
        let micros = max(0, min(9_000_000_000_000_000, (date.timeIntervalSince1970 * 1_000_000).rounded()))
        let digits = String(UInt64(micros))
        return String(repeating: "0", count: max(0, 16 - digits.count)) + digits
    }

    static func decode(_ text: Substring) -> Date? {
        guard text.count == 16, let micros = UInt64(text) else { return nil }
        return Date(timeIntervalSince1970: Double(micros) / 1_000_000)
    }
}

/// The name of a message file in `ready/` or `delayed/`: `<time>.<count>.<id>`, where time is
/// when it became (or becomes) visible and count how often it was received before.
struct WaitingName: Hashable, Comparable {
    var time: Date
    var timeCode: String
    var count: Int
    var id: String

    init(time: Date, count: Int, id: String) {
        self.time = time
        self.timeCode = TimeCode.encode(time)
        self.count = count
        self.id = id
    }

    init?(_ name: String) {
        let parts = name.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let time = TimeCode.decode(parts[0]), let count = Int(parts[1]), count >= 0,
            !parts[2].isEmpty
        else { return nil }
        self.time = time
        self.timeCode = String(parts[0])
        self.count = count
        self.id = String(parts[2])
    }

    var fileName: String { "\(timeCode).\(count).\(id)" }

    static func < (lhs: WaitingName, rhs: WaitingName) -> Bool { lhs.fileName < rhs.fileName }
}

/// The name of a claimed message in `inflight/`: `<deadline>.<count>.<token>.<id>`. The whole
/// name is the receipt; the random token makes every claim's name unique.
struct InFlightName: Hashable {
    var deadline: Date
    var deadlineCode: String
    var count: Int
    var token: String
    var id: String

    init(deadline: Date, count: Int, id: String) {
        self.deadline = deadline
        self.deadlineCode = TimeCode.encode(deadline)
        self.count = count
        self.token = BusNames.randomHex(12)
        self.id = id
    }

    init?(_ name: String) {
        let parts = name.split(separator: ".", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 4, let deadline = TimeCode.decode(parts[0]), let count = Int(parts[1]), count >= 1,
            parts[2].count == 12, !parts[3].isEmpty
        else { return nil }
        self.deadline = deadline
        self.deadlineCode = String(parts[0])
        self.count = count
        self.token = String(parts[2])
        self.id = String(parts[3])
    }

    var fileName: String { "\(deadlineCode).\(count).\(token).\(id)" }
}
