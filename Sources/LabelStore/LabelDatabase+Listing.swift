import Foundation
import GRDB

extension LabelDatabase {
    /// A primary-key lookup of one more required term for the image `seq` names, with its lower bound.
    static func termJoin(_ alias: String, seq: String, _ item: (term: String, minimum: Double?), _ arguments: inout SQLArguments)
        -> String
    {
        var join = " JOIN label_terms \(alias) ON \(alias).term = ? AND \(alias).image_seq = \(seq)"
        arguments.add(LabelTermRecord.asciiFolded(item.term))
        if let min = item.minimum {
            join += " AND \(alias).confidence >= ?"
            arguments.add(min)
        }
        return join
    }

    /// The SQL of an image listing. Three shapes, each chosen so that the common case reads one
    /// index in result order and stops at LIMIT:
    /// - no label, category or colour filter: `images` by its time index;
    /// - one label, or all of several, and/or a category or colour (both are `label_terms` rows,
    ///   "category:<id>" and "color:<name>"): driven by the first term's `label_terms` index in the
    ///   sort order, the other terms checked by primary-key lookups;
    /// - any of several labels: the terms' rows grouped per image (needs a sort), category and
    ///   colour checked by primary-key lookups.
    static func listingSQL(for query: ImageQuery, dialect: SQLDialect = .sqlite) throws -> (String, SQLArguments) {
        guard query.limit >= 0, query.offset >= 0 else {
            throw LabelStoreError.invalidQuery("limit and offset must not be negative")
        }
        if let min = query.minConfidence, !(0...100).contains(min) {
            throw LabelStoreError.invalidQuery("minimum confidence \(min) is outside 0-100")
        }
        if let min = query.minSharpness, !(0...100).contains(min) {
            throw LabelStoreError.invalidQuery("minimum sharpness \(min) is outside 0-100")
        }
        guard (0...100).contains(query.minColorShare) else {
            throw LabelStoreError.invalidQuery("minimum colour share \(query.minColorShare) is outside 0-100")
        }
        // Required non-label terms with their own lower bounds.
        var extras: [(term: String, minimum: Double?)] = []
        if let category = query.category?.trimmingCharacters(in: .whitespaces), !category.isEmpty {
            extras.append((LabelTermRecord.categoryPrefix + category, query.minConfidence))
        }
        if let color = query.color?.trimmingCharacters(in: .whitespaces), !color.isEmpty {
            extras.append((LabelTermRecord.colorPrefix + color, query.minColorShare))
        }
        if let minimum = query.minFaces, minimum < 0 { throw LabelStoreError.invalidQuery("minimum face count \(minimum) is negative") }
        if let maximum = query.maxFaces, maximum < max(0, query.minFaces ?? 0) {
            throw LabelStoreError.invalidQuery("maximum face count \(maximum) is below the minimum")
        }
        if let minimum = query.minFaces, minimum > LabelTermRecord.maxFaceTerms {
            throw LabelStoreError.invalidQuery("face counts are indexed up to \(LabelTermRecord.maxFaceTerms)")
        }
        if let minimum = query.minFaces, minimum > 0 { extras.append((LabelTermRecord.facesPrefix + "\(minimum)", nil)) }
        if query.person { extras.append(("person", nil)) }
        if let safety = query.safety { extras.append((LabelTermRecord.moderationPrefix + safety.rawValue, nil)) }
        let terms = query.labels.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
        var seen = Set<String>()
        let distinctTerms = terms.filter { seen.insert(LabelTermRecord.asciiFolded($0)).inserted }

        var arguments = SQLArguments()
        var conditions: [String] = []
        var sql: String
        let timeColumn: String
        let idColumn: String
        let confidenceExpression: String

        if distinctTerms.isEmpty && extras.isEmpty {
            timeColumn = "images.recognized_at"
            idColumn = "images.seq"
            confidenceExpression = "(SELECT confidence FROM labels WHERE labels.image_id = images.id AND labels.rank = 0)"
            sql = "SELECT images.*, \(confidenceExpression) AS match_confidence FROM images"
            if let min = query.minConfidence {
                conditions.append("\(confidenceExpression) >= ?")
                arguments.add(min)
            }
        } else if distinctTerms.count <= 1 || query.labelMatch == .all {
            timeColumn = "t0.recognized_at"
            idColumn = "t0.image_seq"
            // Name the index (SQLite): without statistics the planner may prefer the other one and sort.
            let index = dialect.indexHint(query.sort == .time ? "label_terms_by_time" : "label_terms_by_confidence")
            let required = distinctTerms.map { (term: $0, minimum: query.minConfidence) } + extras
            var joins = ""
            var confidences = ["t0.confidence"]
            for (offset, item) in required.dropFirst().enumerated() {
                let alias = "t\(offset + 1)"
                joins += termJoin(alias, seq: "t0.image_seq", item, &arguments)
                // The match confidence is the labels'; a category or colour only filters.
                if offset + 1 < distinctTerms.count { confidences.append("\(alias).confidence") }
            }
            confidenceExpression = confidences.count == 1 ? "t0.confidence" : "\(dialect.greatest)(\(confidences.joined(separator: ", ")))"
            sql =
                "SELECT images.*, \(confidenceExpression) AS match_confidence FROM label_terms t0\(index)"
                + joins + " JOIN images ON images.seq = t0.image_seq"
            conditions.append("t0.term = ?")
            arguments.add(LabelTermRecord.asciiFolded(required[0].term))
            if let min = required[0].minimum {
                conditions.append("t0.confidence >= ?")
                arguments.add(min)
            }
        } else {
            timeColumn = "m.recognized_at"
            idColumn = "m.image_seq"
            confidenceExpression = "m.best"
            var inner =
                "SELECT image_seq, max(confidence) AS best, max(recognized_at) AS recognized_at FROM label_terms WHERE term IN ("
                + Array(repeating: "?", count: distinctTerms.count).joined(separator: ", ") + ")"
            for term in distinctTerms { arguments.add(LabelTermRecord.asciiFolded(term)) }
            if let min = query.minConfidence {
                inner += " AND confidence >= ?"
                arguments.add(min)
            }
            if let since = query.since {
                inner += " AND recognized_at >= ?"
                arguments.add(since.timeIntervalSince1970)
            }
            if let until = query.until {
                inner += " AND recognized_at < ?"
                arguments.add(until.timeIntervalSince1970)
            }
            inner += " GROUP BY image_seq"
            var joins = ""
            for (offset, item) in extras.enumerated() { joins += termJoin("x\(offset)", seq: "m.image_seq", item, &arguments) }
            sql = "SELECT images.*, m.best AS match_confidence FROM (\(inner)) m" + joins + " JOIN images ON images.seq = m.image_seq"
        }

        // The grouped shape applied the time range inside; the others filter here.
        if distinctTerms.count <= 1 || query.labelMatch == .all {
            if let since = query.since {
                conditions.append("\(timeColumn) >= ?")
                arguments.add(since.timeIntervalSince1970)
            }
            if let until = query.until {
                conditions.append("\(timeColumn) < ?")
                arguments.add(until.timeIntervalSince1970)
            }
        }
        if let source = query.sourceContains, !source.isEmpty {
            conditions.append("images.source_url \(dialect.like) ? ESCAPE '\\'")
            arguments.add(likePattern(source))
        }
        if let name = query.nameContains, !name.isEmpty {
            conditions.append("images.name \(dialect.like) ? ESCAPE '\\'")
            arguments.add(likePattern(name))
        }
        if let sharpness = query.minSharpness {
            conditions.append("images.sharpness >= ?")
            arguments.add(sharpness)
        }
        if query.minFaces == 0 {
            // Every image searched for faces; with no term to drive it, a scan of the time index.
            conditions.append("images.face_count IS NOT NULL")
        }
        if let maximum = query.maxFaces, maximum < LabelTermRecord.maxFaceTerms {
            conditions.append("NOT EXISTS (SELECT 1 FROM label_terms f WHERE f.term = ? AND f.image_seq = images.seq)")
            arguments.add(LabelTermRecord.facesPrefix + "\(maximum + 1)")
            if query.minFaces == nil { conditions.append("images.face_count IS NOT NULL") }
        }
        if let text = query.text {
            conditions.append(try dialect.textCondition(textUnits(text), &arguments))
        }
        if let cursor = query.after {
            // Row values compare as the ORDER BY sorts, and SQLite reads them as an index range.
            switch query.sort {
            case .time:
                conditions.append("(\(timeColumn), \(idColumn)) < (?, ?)")
                arguments.add(cursor.recognizedAt)
                arguments.add(cursor.seq)
            case .confidence:
                guard let confidence = cursor.confidence else {
                    throw LabelStoreError.invalidQuery("the cursor comes from a listing by time, not by confidence")
                }
                conditions.append("(coalesce(\(confidenceExpression), -1), \(timeColumn), \(idColumn)) < (?, ?, ?)")
                arguments.add(confidence)
                arguments.add(cursor.recognizedAt)
                arguments.add(cursor.seq)
            }
        }
        if !conditions.isEmpty { sql += " WHERE " + conditions.joined(separator: " AND ") }

        switch query.sort {
        case .time:
            sql += " ORDER BY \(timeColumn) DESC, \(idColumn) DESC"
        case .confidence:
            sql += " ORDER BY \(confidenceExpression) DESC, \(timeColumn) DESC, \(idColumn) DESC"
        }
        sql += " LIMIT ? OFFSET ?"
        arguments.add(query.limit)
        arguments.add(query.offset)
        return (sql, arguments)
    }

    /// The words and quoted phrases of a `--text` search: every one must appear (any order); a
    /// part in double quotes is one phrase.
    static func textUnits(_ text: String) throws -> [String] {
        var units: [String] = []
        for (index, piece) in text.split(separator: "\"", omittingEmptySubsequences: false).enumerated() {
            let trimmed = piece.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !trimmed.isEmpty else { continue }
            // Odd pieces were inside quotes: one phrase; even pieces are loose words.
            units += index % 2 == 1 ? [trimmed] : trimmed.split(whereSeparator: \.isWhitespace).map(String.init)
        }
        guard !units.isEmpty else { throw LabelStoreError.invalidQuery("the text to search for is empty") }
        return units
    }

    /// An FTS5 query for the units: each word and phrase quoted, so FTS5's operators and
    /// punctuation are only text.
    static func textMatch(_ units: [String]) -> String {
        units.map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }.joined(separator: " ")
    }
}

/// A value bound to a statement of either backend.
enum SQLValue: Sendable, Equatable {
    case text(String)
    case double(Double)
    case integer(Int64)
}

/// The values of a statement's `?` placeholders, in order.
struct SQLArguments: Sendable {
    var values: [SQLValue] = []
    mutating func add(_ value: String) { values.append(.text(value)) }
    mutating func add(_ value: Double) { values.append(.double(value)) }
    mutating func add(_ value: Int) { values.append(.integer(Int64(value))) }
    mutating func add(_ value: Int64) { values.append(.integer(value)) }

    /// The values as GRDB binds them.
    var statementArguments: StatementArguments {
        StatementArguments(
            values.map { value -> (any DatabaseValueConvertible) in
                switch value {
                case .text(let text): return text
                case .double(let number): return number
                case .integer(let number): return number
                }
            })
    }
}

/// Where the listing SQL of SQLite and PostgreSQL differs; the rest of a listing query (shapes,
/// joins, keyset conditions, order) is one text for both.
struct SQLDialect: Sendable {
    /// What follows `FROM label_terms t0` to name the index to read.
    var indexHint: @Sendable (String) -> String
    /// The scalar maximum of several values.
    var greatest: String
    /// Case-insensitive (ASCII) LIKE.
    var like: String
    /// The condition that `images` row contains every text unit, its values added to the arguments.
    var textCondition: @Sendable ([String], inout SQLArguments) throws -> String

    static let sqlite = SQLDialect(
        indexHint: { " INDEXED BY \($0)" }, greatest: "max", like: "LIKE",
        textCondition: { units, arguments in
            arguments.add(LabelDatabase.textMatch(units))
            return "images.seq IN (SELECT rowid FROM image_text WHERE image_text MATCH ?)"
        })
}
