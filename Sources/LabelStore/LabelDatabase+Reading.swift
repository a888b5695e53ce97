import Foundation
import GRDB

extension LabelDatabase {
    /// Images matching the query, each with its labels.
    public func images(matching query: ImageQuery) throws -> [ImageSummary] {
        let (sql, arguments) = try Self.listingSQL(for: query)
        return try Self.wrap(path, "list images") {
            try pool.read { db in
                let rows = try Row.fetchAll(db, sql: sql, arguments: arguments.statementArguments)
                let records = try rows.map { try ImageRecord(row: $0) }
                let labels = try Self.labels(of: records.map(\.id), in: db)
                return zip(records, rows).map { record, row in
                    let confidence: Double? = row["match_confidence"]
                    let cursor = ListingCursor(
                        recognizedAt: record.recognizedAt.timeIntervalSince1970, seq: row["seq"],
                        confidence: query.sort == .confidence ? (confidence ?? -1) : nil)
                    return ImageSummary(record, labels: labels[record.id] ?? [], matchConfidence: confidence, cursor: cursor)
                }
            }
        }
    }

    /// One image by full id or unambiguous prefix.
    public func image(idOrPrefix: String) throws -> ImageDetail? {
        let prefix = idOrPrefix.trimmingCharacters(in: .whitespaces).lowercased()
        guard !prefix.isEmpty, prefix.count <= 64, prefix.allSatisfy(\.isHexDigit) else {
            throw LabelStoreError.invalidIDPrefix(idOrPrefix)
        }
        return try Self.wrap(path, "look up image \(prefix)") {
            try pool.read { db -> ImageDetail? in
                // Ids are lowercase hex, so every id starting with the prefix sorts before prefix + "g":
                // a primary-key range, not a LIKE scan.
                let candidates =
                    try ImageRecord
                    .filter(ImageRecord.Columns.id >= prefix && ImageRecord.Columns.id < prefix + "g")
                    .order(ImageRecord.Columns.id)
                    .limit(21)
                    .fetchAll(db)
                guard let first = candidates.first else { return nil }
                if candidates.count > 1 {
                    var lines = candidates.prefix(20).map { "\($0.id)  \($0.name)" }
                    if candidates.count > 20 { lines.append("… and more") }
                    throw LabelStoreError.ambiguousPrefix(prefix: prefix, candidates: lines)
                }
                let labels = try Self.labels(of: [first.id], in: db)
                return ImageDetail(ImageSummary(first, labels: labels[first.id] ?? [], matchConfidence: nil))
            }
        }
    }

    /// Terms by image count, from the trigger-maintained `label_counts` table.
    public func labelCounts(_ query: LabelCountQuery) throws -> [LabelCount] {
        try Self.wrap(path, "count labels") {
            try pool.read { db in
                var request = LabelCountRecord.all()
                let prefixes = LabelTermRecord.namespaces
                let prefix: String?
                switch query.kind {
                case .labels:
                    prefix = nil
                    for namespace in prefixes {
                        request = request.filter(sql: "term NOT LIKE ? ESCAPE '\\'", arguments: [Self.likeEscaped(namespace) + "%"])
                    }
                case .categories: prefix = LabelTermRecord.categoryPrefix
                case .colors: prefix = LabelTermRecord.colorPrefix
                }
                if let prefix {
                    request = request.filter(sql: "term LIKE ? ESCAPE '\\'", arguments: [Self.likeEscaped(prefix) + "%"])
                }
                if let contains = query.contains, !contains.isEmpty {
                    request = request.filter(
                        sql: "term LIKE ? ESCAPE '\\'", arguments: [(prefix.map(Self.likeEscaped) ?? "%") + Self.likePattern(contains).dropFirst()])
                }
                request = request.order(LabelCountRecord.Columns.imageCount.desc, LabelCountRecord.Columns.term)
                if let limit = query.limit { request = request.limit(limit) }
                return try request.fetchAll(db).map { record in
                    LabelCount(term: prefix.map { String(record.term.dropFirst($0.count)) } ?? record.term, imageCount: record.imageCount)
                }
            }
        }
    }

    /// SQLite's integrity check, foreign-key check, and whether `label_counts` agrees with `label_terms`.
    public func integrityCheck() throws -> [String] {
        try Self.wrap(path, "integrity check") {
            try pool.read { db in
                var problems = try String.fetchAll(db, sql: "PRAGMA integrity_check").filter { $0 != "ok" }
                for row in try Row.fetchAll(db, sql: "PRAGMA foreign_key_check") {
                    let table: String = row[0] ?? "?"
                    let parent: String = row[2] ?? "?"
                    problems.append("foreign key violation: a row of \(table) references a missing row of \(parent)")
                }
                let actual = try Row.fetchAll(db, sql: "SELECT term, COUNT(*) FROM label_terms GROUP BY term")
                let kept = try Dictionary(
                    Row.fetchAll(db, sql: "SELECT term, image_count FROM label_counts").map {
                        (LabelTermRecord.asciiFolded($0[0] as String), $0[1] as Int)
                    }, uniquingKeysWith: { first, _ in first })
                var seen = Set<String>()
                for row in actual {
                    let term: String = row[0]
                    let count: Int = row[1]
                    let key = LabelTermRecord.asciiFolded(term)
                    seen.insert(key)
                    if kept[key] != count {
                        problems.append("label_counts says \(kept[key] ?? 0) image(s) for '\(term)' but label_terms has \(count)")
                    }
                }
                for key in kept.keys where !seen.contains(key) {
                    problems.append("label_counts lists '\(key)' which no image carries")
                }
                return problems.isEmpty ? ["ok"] : problems
            }
        }
    }

    /// `EXPLAIN QUERY PLAN` of the listing query, one line per plan step (for benchmarks and tuning).
    public func queryPlan(for query: ImageQuery) throws -> [String] {
        let (sql, arguments) = try Self.listingSQL(for: query)
        return try Self.wrap(path, "explain query") {
            try pool.read { db in
                try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: arguments.statementArguments).map {
                    "\($0["detail"] as String? ?? "")"
                }
            }
        }
    }

    /// Labels of the given images, grouped by image id, in rank order.
    static func labels(of ids: [String], in db: Database) throws -> [String: [LabelRecord]] {
        guard !ids.isEmpty else { return [:] }
        let records =
            try LabelRecord
            .filter(ids.contains(LabelRecord.Columns.imageID))
            .order(LabelRecord.Columns.imageID, LabelRecord.Columns.rank)
            .fetchAll(db)
        return Dictionary(grouping: records, by: \.imageId)
    }

    /// A LIKE pattern for "contains `text`", with LIKE's wildcards escaped.
    static func likePattern(_ text: String) -> String {
        "%" + likeEscaped(text) + "%"
    }

    /// `text` with LIKE's wildcards escaped (escape character backslash).
    static func likeEscaped(_ text: String) -> String {
        var escaped = ""
        for character in text {
            if character == "%" || character == "_" || character == "\\" { escaped.append("\\") }
            escaped.append(character)
        }
        return escaped
    }
}
