import Foundation
import PipelineModel
import PostgresClient
import PostgresNIO

extension PostgresLabelStore {
    public func images(matching query: ImageQuery) throws -> [ImageSummary] {
        let (sql, arguments) = try LabelDatabase.listingSQL(for: query, dialect: .postgres)
        return try wrap("list images") {
            try session.withConnection { connection in
                let rows = try session.run(connection, Self.query(sql, arguments)).map { $0.makeRandomAccess() }
                let records = try rows.map { try ImageRecord(postgres: $0) }
                let labels = try labels(of: records.map(\.id), on: connection)
                return try zip(records, rows).map { record, row in
                    let confidence = try row["match_confidence"].decode(Double?.self)
                    let cursor = ListingCursor(
                        recognizedAt: record.recognizedAt.timeIntervalSince1970, seq: try row["seq"].decode(Int64.self),
                        confidence: query.sort == .confidence ? (confidence ?? -1) : nil)
                    return ImageSummary(record, labels: labels[record.id] ?? [], matchConfidence: confidence, cursor: cursor)
                }
            }
        }
    }

    public func image(idOrPrefix: String) throws -> ImageDetail? {
        let prefix = idOrPrefix.trimmingCharacters(in: .whitespaces).lowercased()
        guard !prefix.isEmpty, prefix.count <= 64, prefix.allSatisfy(\.isHexDigit) else {
            throw LabelStoreError.invalidIDPrefix(idOrPrefix)
        }
        return try wrap("look up image \(prefix)") {
            try session.withConnection { connection -> ImageDetail? in
                // Ids are lowercase hex in byte order: every id with the prefix sorts before prefix + "g".
                let candidates = try session.run(
                    connection, "SELECT * FROM images WHERE id >= \(prefix) AND id < \(prefix + "g") ORDER BY id LIMIT 21"
                ).map { try ImageRecord(postgres: $0.makeRandomAccess()) }
                guard let first = candidates.first else { return nil }
                if candidates.count > 1 {
                    var lines = candidates.prefix(20).map { "\($0.id)  \($0.name)" }
                    if candidates.count > 20 { lines.append("… and more") }
                    throw LabelStoreError.ambiguousPrefix(prefix: prefix, candidates: lines)
                }
                let labels = try labels(of: [first.id], on: connection)
                return ImageDetail(ImageSummary(first, labels: labels[first.id] ?? [], matchConfidence: nil))
            }
        }
    }

    public func labelCounts(_ query: LabelCountQuery) throws -> [LabelCount] {
        var conditions: [String] = []
        var arguments = SQLArguments()
        let prefix: String?
        switch query.kind {
        case .labels:
            prefix = nil
            for namespace in LabelTermRecord.namespaces {
                conditions.append("term NOT LIKE ? ESCAPE '\\'")
                arguments.add(LabelDatabase.likeEscaped(namespace) + "%")
            }
        case .categories: prefix = LabelTermRecord.categoryPrefix
        case .colors: prefix = LabelTermRecord.colorPrefix
        }
        if let prefix {
            conditions.append("term LIKE ? ESCAPE '\\'")
            arguments.add(LabelDatabase.likeEscaped(prefix) + "%")
        }
        if let contains = query.contains, !contains.isEmpty {
            conditions.append("term LIKE ? ESCAPE '\\'")
            arguments.add((prefix.map(LabelDatabase.likeEscaped) ?? "%") + LabelDatabase.likePattern(contains.asciiFolded).dropFirst())
        }
        var sql = "SELECT display, image_count FROM label_counts"
        if !conditions.isEmpty { sql += " WHERE " + conditions.joined(separator: " AND ") }
        sql += " ORDER BY image_count DESC, term"
        if let limit = query.limit {
            sql += " LIMIT ?"
            arguments.add(limit)
        }
        return try wrap("count labels") {
            try session.withConnection { connection in
                try session.run(connection, Self.query(sql, arguments)).map { row in
                    let (term, count) = try row.decode((String, Int64).self)
                    return LabelCount(term: prefix.map { String(term.dropFirst($0.count)) } ?? term, imageCount: Int(count))
                }
            }
        }
    }

    public func counts() throws -> StoreCounts {
        try wrap("count images") {
            try session.withConnection { connection in
                guard let row = try session.run(connection, "SELECT count(*), count(notified_at) FROM images").first else {
                    return StoreCounts(recognized: 0, notified: 0)
                }
                let (recognized, notified) = try row.decode((Int64, Int64).self)
                return StoreCounts(recognized: Int(recognized), notified: Int(notified))
            }
        }
    }

    public func stageTimes(afterSeq seq: Int64, limit: Int) throws -> [ImageStageTimes] {
        try wrap("read stage times") {
            try session.withConnection { connection in
                try session.run(
                    connection, "SELECT seq, fetched_at, recognized_at, notified_at FROM images WHERE seq > \(seq) ORDER BY seq LIMIT \(Int64(limit))"
                ).map { row in
                    let (seq, fetched, recognized, notified) = try row.decode((Int64, Double, Double, Double?).self)
                    return ImageStageTimes(
                        seq: seq, fetchedAt: Date(timeIntervalSince1970: fetched), recognizedAt: Date(timeIntervalSince1970: recognized),
                        notifiedAt: notified.map { Date(timeIntervalSince1970: $0) })
                }
            }
        }
    }

    /// Whether `label_counts` agrees with `label_terms` and every label has its image; `["ok"]` when so.
    public func integrityCheck() throws -> [String] {
        try wrap("integrity check") {
            try session.withConnection { connection in
                var problems: [String] = []
                for row in try session.run(
                    connection,
                    """
                    SELECT coalesce(t.term, c.term), coalesce(t.n, 0), coalesce(c.image_count, 0)
                    FROM (SELECT term, count(*) AS n FROM label_terms GROUP BY term) t FULL JOIN label_counts c ON c.term = t.term
                    WHERE t.n IS DISTINCT FROM c.image_count
                    """)
                {
                    let (term, actual, kept) = try row.decode((String, Int64, Int64).self)
                    problems.append(
                        actual == 0
                            ? "label_counts lists '\(term)' which no image carries"
                            : "label_counts says \(kept) image(s) for '\(term)' but label_terms has \(actual)")
                }
                let orphans =
                    try session.run(
                        connection, "SELECT count(*) FROM label_terms WHERE image_seq NOT IN (SELECT seq FROM images)"
                    ).first?.decode(Int64.self) ?? 0
                if orphans > 0 { problems.append("\(orphans) label_terms row(s) name an image that does not exist") }
                return problems.isEmpty ? ["ok"] : problems
            }
        }
    }

    // MARK: Near-duplicates

    public func duplicateGroups(_ query: DuplicateQuery) throws -> [[ImageSummary]] {
        try LabelDatabase.validate(query)
        return try wrap("find duplicates") {
            try session.withConnection { connection in
                var seqs: [Int64] = []
                var item: [Int64: Int] = [:]
                func number(_ seq: Int64) -> Int {
                    if let known = item[seq] { return known }
                    item[seq] = seqs.count
                    seqs.append(seq)
                    return seqs.count - 1
                }
                var hashed: [(item: Int, hash: UInt64)] = []
                for row in try session.run(connection, "SELECT seq, phash FROM images WHERE phash IS NOT NULL") {
                    let (seq, hash) = try row.decode((Int64, Int64).self)
                    hashed.append((number(seq), UInt64(bitPattern: hash)))
                }
                var models: [String: Fingerprints] = [:]
                if query.minSimilarity != nil {
                    for row in try session.run(connection, "SELECT image_seq, model, embedding FROM image_embeddings") {
                        let (seq, model, embedding) = try row.decode((Int64, String, ByteBuffer).self)
                        embedding.withUnsafeReadableBytes { models[model, default: Fingerprints()].append(item: number(seq), embedding: $0) }
                    }
                }
                let groups = LabelDatabase.duplicateItemGroups(hashed: hashed, models: models, itemCount: seqs.count, query: query)
                let summaries = try summaries(seqs: groups.flatMap { $0.map { seqs[$0] } }, on: connection)
                return groups.map { group in
                    group.compactMap { summaries[seqs[$0]] }.sorted { $0.recognizedAt > $1.recognizedAt }
                }
            }
        }
    }

    public func similarImages(to idOrPrefix: String, limit: Int) throws -> SimilarImages? {
        guard limit >= 0 else { throw LabelStoreError.invalidQuery("limit must not be negative") }
        guard let target = try image(idOrPrefix: idOrPrefix) else { return nil }
        return try wrap("find images like \(target.id)") {
            try session.withConnection { connection in
                guard
                    let own = try session.run(
                        connection, "SELECT seq, model FROM images LEFT JOIN image_embeddings ON image_seq = seq WHERE id = \(target.id)"
                    ).first,
                    case (let ownSeq, let model?) = try own.decode((Int64, String?).self)
                else {
                    throw LabelStoreError.invalidQuery(
                        "image \(target.id.prefix(12)) has no embedding (recognized without the similarity analysis); recognize it again")
                }
                var prints = Fingerprints()
                var seqs: [Int64] = []
                for row in try session.run(connection, "SELECT image_seq, embedding FROM image_embeddings WHERE model = \(model)") {
                    let (seq, embedding) = try row.decode((Int64, ByteBuffer).self)
                    // Rows of another width than the first are corrupt; skip them (rows stay aligned with seqs).
                    if embedding.withUnsafeReadableBytes({ prints.append(item: seqs.count, embedding: $0) }) { seqs.append(seq) }
                }
                let top = LabelDatabase.mostSimilar(prints: prints, seqs: seqs, to: ownSeq, limit: limit)
                let summaries = try summaries(seqs: top.map(\.seq), on: connection)
                var phashes: [Int64: UInt64] = [:]
                for row in try session.run(
                    connection, "SELECT seq, phash FROM images WHERE phash IS NOT NULL AND seq = ANY(\([ownSeq] + top.map(\.seq))::int8[])")
                {
                    let (seq, hash) = try row.decode((Int64, Int64).self)
                    phashes[seq] = UInt64(bitPattern: hash)
                }
                return LabelDatabase.similarImages(target: target, ownSeq: ownSeq, top: top, summaries: summaries, phashes: phashes)
            }
        }
    }

    // MARK: Rows

    /// Labels of the given images, grouped by image id, in rank order.
    func labels(of ids: [String], on connection: PostgresConnection) throws -> [String: [LabelRecord]] {
        guard !ids.isEmpty else { return [:] }
        let records = try session.run(
            connection,
            "SELECT image_id, rank, name, confidence, parents, aliases, categories FROM labels WHERE image_id = ANY(\(ids)::text[]) ORDER BY image_id, rank"
        ).map { try LabelRecord(postgres: $0.makeRandomAccess()) }
        return Dictionary(grouping: records, by: \.imageId)
    }

    /// Listing rows of the images with these seqs, by seq.
    func summaries(seqs: [Int64], on connection: PostgresConnection) throws -> [Int64: ImageSummary] {
        guard !seqs.isEmpty else { return [:] }
        let rows = try session.run(connection, "SELECT * FROM images WHERE seq = ANY(\(seqs)::int8[])").map { $0.makeRandomAccess() }
        let records = try rows.map { try ImageRecord(postgres: $0) }
        let labels = try labels(of: records.map(\.id), on: connection)
        var result: [Int64: ImageSummary] = [:]
        for (row, record) in zip(rows, records) {
            result[try row["seq"].decode(Int64.self)] = ImageSummary(record, labels: labels[record.id] ?? [], matchConfidence: nil)
        }
        return result
    }
}

extension ImageRecord {
    /// An `images` row as PostgreSQL returns it.
    init(postgres row: PostgresRandomAccessRow) throws {
        id = try row["id"].decode(String.self)
        name = try row["name"].decode(String.self)
        sourceUrl = try row["source_url"].decode(String.self)
        storedPath = try row["stored_path"].decode(String.self)
        byteSize = try row["byte_size"].decode(Int.self)
        contentType = try row["content_type"].decode(String.self)
        width = try row["width"].decode(Int.self)
        height = try row["height"].decode(Int.self)
        fetchedAt = Date(timeIntervalSince1970: try row["fetched_at"].decode(Double.self))
        recognizedAt = Date(timeIntervalSince1970: try row["recognized_at"].decode(Double.self))
        modelName = try row["model_name"].decode(String.self)
        modelVersion = try row["model_version"].decode(String.self)
        notifiedAt = try row["notified_at"].decode(Double?.self).map { Date(timeIntervalSince1970: $0) }
        brightness = try row["brightness"].decode(Double?.self)
        contrast = try row["contrast"].decode(Double?.self)
        sharpness = try row["sharpness"].decode(Double?.self)
        colors = try row["colors"].decode(String?.self)
        categories = try row["categories"].decode(String?.self)
        phash = try row["phash"].decode(Int64?.self)
        faceCount = try row["face_count"].decode(Int?.self)
        faces = try row["faces"].decode(String?.self)
        moderation = try row["moderation"].decode(String?.self)
        unsafe = try row["unsafe"].decode(Int?.self)
        text = try row["text"].decode(String?.self)
    }
}

extension PostgresLabelStore {
    /// Every row of the store's tables as text, sorted (tests compare states with it).
    func dumpRows() throws -> [String] {
        try session.withConnection { connection in
            var lines: [String] = []
            for table in ["images", "labels", "label_terms", "label_counts", "image_text", "image_embeddings"] {
                for row in try session.run(connection, PostgresQuery(unsafeSQL: "SELECT r::text FROM \(table) r ORDER BY 1")) {
                    lines.append("\(table): \(try row.decode(String.self))")
                }
            }
            return lines
        }
    }
}
