import Foundation
import LabelStore
import PipelineModel

/// `GET /v1/images` and the gallery's search: query parameters to an `ImageQuery`, with the same
/// filters and checks as list-images' options (docs/openapi.yaml names them).
public enum ImageQueryParameters {
    /// Largest page a client may ask for.
    public static let maxLimit = 200
    /// Every parameter the listing understands; others are refused, so a typo is not silently ignored.
    public static let names: Set<String> = [
        "label", "match", "min_confidence", "since", "until", "source", "name", "category", "color", "min_color_share",
        "min_sharpness", "faces", "person", "safe", "text", "limit", "sort", "cursor",
    ]

    /// Reads the parameters `values` gives (every value of a name, in order). An empty text filter counts
    /// as absent (an HTML form sends every field); an empty number, flag or choice is an error.
    public static func query(_ values: (String) -> [String], names given: [String], now: Date = Date(), defaultLimit: Int = 50)
        throws(APIError) -> ImageQuery
    {
        if let unknown = given.first(where: { !names.contains($0) }) {
            throw .badRequest("unknown query parameter '\(unknown)'; known: \(names.sorted().joined(separator: ", "))")
        }
        func one(_ name: String) throws(APIError) -> String? {
            let all = values(name)
            guard all.count <= 1 else { throw .badRequest("'\(name)' may be given once") }
            return all.first
        }
        func text(_ name: String) throws(APIError) -> String? {
            guard let value = try one(name)?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
            return value
        }
        func number(_ name: String, in range: ClosedRange<Double>) throws(APIError) -> Double? {
            guard let text = try one(name) else { return nil }
            guard let value = Double(text), range.contains(value) else {
                throw .badRequest("'\(name)' must be a number from \(Int(range.lowerBound)) to \(Int(range.upperBound)), got '\(text)'")
            }
            return value
        }
        func flag(_ name: String) throws(APIError) -> Bool? {
            guard let text = try one(name) else { return nil }
            switch text.lowercased() {
            case "true", "1", "yes", "on": return true
            case "false", "0", "no", "off": return false
            default: throw .badRequest("'\(name)' must be true or false, got '\(text)'")
            }
        }
        func time(_ name: String) throws(APIError) -> Date? {
            guard let text = try one(name) else { return nil }
            do {
                return try TimeExpression.parse(text, now: now)
            } catch {
                throw .badRequest("'\(name)': \(error)")
            }
        }

        var query = ImageQuery(limit: defaultLimit)
        query.labels = values("label").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if let match = try one("match") {
            guard let value = ImageQuery.LabelMatch(rawValue: match) else { throw .badRequest("'match' must be any or all, got '\(match)'") }
            query.labelMatch = value
        }
        query.minConfidence = try number("min_confidence", in: 0...100)
        query.since = try time("since")
        query.until = try time("until")
        query.sourceContains = try text("source")
        query.nameContains = try text("name")
        query.category = try text("category")
        query.color = try text("color")
        if let share = try number("min_color_share", in: 0...100) { query.minColorShare = share }
        query.minSharpness = try number("min_sharpness", in: 0...100)
        if let faces = try one("faces") {
            guard let range = ImageQuery.faceRange(faces) else {
                throw .badRequest("'faces' must be N (exactly), N+ (at least) or 0 (none), got '\(faces)'")
            }
            query.minFaces = range.min
            query.maxFaces = range.max
        }
        query.person = try flag("person") ?? false
        if let safe = try flag("safe") { query.safety = safe ? .safe : .unsafe }
        if let text = try text("text") {
            guard !text.replacingOccurrences(of: "\"", with: "").trimmingCharacters(in: .whitespaces).isEmpty else {
                throw .badRequest("'text' needs a word to search for")
            }
            query.text = text
        }
        if let limit = try number("limit", in: 1...Double(maxLimit)) {
            guard limit == limit.rounded() else { throw .badRequest("'limit' must be a whole number") }
            query.limit = Int(limit)
        }
        if let sort = try one("sort") {
            guard let value = ImageQuery.Sort(rawValue: sort) else { throw .badRequest("'sort' must be time or confidence, got '\(sort)'") }
            query.sort = value
        }
        if let token = try one("cursor") {
            guard let cursor = ListingCursor(token: token) else {
                throw .badRequest("'cursor' is not a cursor this server gave out (use next_cursor of the previous page)")
            }
            guard query.sort == .time || cursor.confidence != nil else {
                throw .badRequest("'cursor' comes from a listing sorted by time; keep the same sort when paging")
            }
            query.after = cursor
        }
        return query
    }
}
