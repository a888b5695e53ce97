import Foundation

/// The one parser of times given on a command line (`--since`, `--until` of list-images and
/// bus-admin): ISO dates and datetimes, or an age like `30m`.
public enum TimeExpression {
    /// Why a time expression was rejected.
    public struct ParseError: Error, CustomStringConvertible {
        public var text: String
        /// The rejected text and the accepted forms.
        public var description: String {
            "'\(text)' is not a time: use an age (90s, 30m, 2h, 7d, 2w), a date (2026-11-22) or a datetime (2026-11-22T08:30, 2026-11-22 08:30:00Z, 2026-11-22T08:30:00+01:00)"
        }
    }

    /// The instant `text` denotes. Ages count back from `now`; dates and datetimes without a
    /// zone are in `timeZone` (the local zone by default), a date alone meaning its midnight.
    public static func parse(_ text: String, now: Date = Date(), timeZone: TimeZone = .current) throws -> Date {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let age = parseAge(trimmed) { return now.addingTimeInterval(-age) }
        if let date = parseISO(trimmed, timeZone: timeZone) { return date }
        throw ParseError(text: text)
    }

    /// Seconds in `90s`, `30m`, `2h`, `7d`, `2w`.
    static func parseAge(_ text: String) -> TimeInterval? {
        guard let unit = text.last, let amount = Double(text.dropLast()), amount >= 0, amount.isFinite,
            text.dropLast().allSatisfy({ $0.isNumber || $0 == "." })
        else { return nil }
        switch unit {
        case "s": return amount
        case "m": return amount * 60
        case "h": return amount * 3600
        case "d": return amount * 86_400
        case "w": return amount * 604_800
        default: return nil
        }
    }

    /// An ISO-8601 date or datetime (zone optional, then `timeZone`), nil when `text` is not one.
    public static func parseISO(_ text: String, timeZone: TimeZone) -> Date? {
        let pattern = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?(Z|z|[+-]\d{2}:?\d{2})?$/
        guard let match = text.wholeMatch(of: pattern) else { return nil }
        var zone = timeZone
        if let designator = match.8 {
            if designator == "Z" || designator == "z" {
                zone = TimeZone(secondsFromGMT: 0) ?? timeZone
            } else {
                let digits = designator.dropFirst().filter(\.isNumber)
                guard digits.count == 4, let hours = Int(digits.prefix(2)), let minutes = Int(digits.suffix(2)) else { return nil }
                let sign = designator.first == "-" ? -1 : 1
                guard let offsetZone = TimeZone(secondsFromGMT: sign * (hours * 3600 + minutes * 60)) else { return nil }
                zone = offsetZone
            }
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        var components = DateComponents()
        components.year = Int(match.1)
        components.month = Int(match.2)
        components.day = Int(match.3)
        components.hour = match.4.flatMap { Int($0) } ?? 0
        components.minute = match.5.flatMap { Int($0) } ?? 0
        components.second = match.6.flatMap { Int($0) } ?? 0
        guard let month = components.month, (1...12).contains(month), let day = components.day, (1...31).contains(day),
            let hour = components.hour, hour < 24, let minute = components.minute, minute < 60,
            let second = components.second, second < 61,
            let date = calendar.date(from: components)
        else { return nil }
        // Reject dates the calendar silently rolled over (2026-02-30 -> March 2).
        guard calendar.component(.day, from: date) == day else { return nil }
        let fraction = match.7.flatMap { Double("0." + $0) } ?? 0
        return date.addingTimeInterval(fraction)
    }
}
