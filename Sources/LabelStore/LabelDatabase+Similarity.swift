import Foundation
import GRDB
import GRDBSQLite

extension LabelDatabase {
    /// Groups of near-duplicates: images whose perceptual hashes are within `maxDistance` bits,
    /// or whose embeddings (of the same model) reach `minSimilarity`, joined transitively. Each
    /// group is most recently recognized first; larger groups first.
    public func duplicateGroups(_ query: DuplicateQuery) throws -> [[ImageSummary]] {
        try Self.validate(query)
        return try Self.wrap(path, "find duplicates") {
            try pool.read { db in
                var seqs: [Int64] = []
                var item: [Int64: Int] = [:]
                var hashed: [(item: Int, hash: UInt64)] = []
                var models: [String: Fingerprints] = [:]
                func number(_ seq: Int64) -> Int {
                    if let known = item[seq] { return known }
                    item[seq] = seqs.count
                    seqs.append(seq)
                    return seqs.count - 1
                }
                let hashes = try Row.fetchCursor(db, sql: "SELECT seq, phash FROM images WHERE phash IS NOT NULL")
                while let row = try hashes.next() { hashed.append((number(row[0]), UInt64(bitPattern: row[1]))) }
                if query.minSimilarity != nil {
                    try Self.scan(db, sql: "SELECT image_seq, model, embedding FROM image_embeddings") { row in
                        guard let model = sqlite3_column_text(row, 1) else { return }
                        let seq = sqlite3_column_int64(row, 0)
                        models[String(cString: model), default: Fingerprints()].append(item: number(seq), embedding: Self.blob(row, 2))
                    }
                }
                let groups = Self.duplicateItemGroups(hashed: hashed, models: models, itemCount: seqs.count, query: query)
                let summaries = try Self.summaries(seqs: groups.flatMap { $0.map { seqs[$0] } }, in: db)
                return groups.map { group in
                    group.compactMap { summaries[seqs[$0]] }.sorted { $0.recognizedAt > $1.recognizedAt }
                }
            }
        }
    }

    /// The `limit` images most like one image by centred cosine similarity of their embeddings
    /// (among images embedded by the same model); nil when no image matches the id.
    public func similarImages(to idOrPrefix: String, limit: Int) throws -> SimilarImages? {
        guard limit >= 0 else { throw LabelStoreError.invalidQuery("limit must not be negative") }
        guard let target = try image(idOrPrefix: idOrPrefix) else { return nil }
        return try Self.wrap(path, "find images like \(target.id)") {
            try pool.read { db in
                guard
                    let own = try Row.fetchOne(
                        db,
                        sql: "SELECT seq, phash, model FROM images LEFT JOIN image_embeddings ON image_seq = seq WHERE id = ?",
                        arguments: [target.id]),
                    let model = own["model"] as String?
                else {
                    throw LabelStoreError.invalidQuery(
                        "image \(target.id.prefix(12)) has no embedding (recognized without the similarity analysis); recognize it again")
                }
                let ownSeq: Int64 = own["seq"]
                // One pass over the model's rows, the blobs copied straight into one flat buffer.
                var prints = Fingerprints()
                var seqs: [Int64] = []
                if let highest = try Int64.fetchOne(db, sql: "SELECT max(image_seq) FROM image_embeddings") {
                    // Seqs are dense enough that the highest bounds the row count well.
                    prints.reserve(rows: Int(min(highest, 10_000_000)), width: 256)
                    seqs.reserveCapacity(Int(min(highest, 10_000_000)))
                }
                try Self.scan(db, sql: "SELECT image_seq, embedding FROM image_embeddings WHERE model = ?", arguments: [model]) { row in
                    // Rows of another width than the first are corrupt; skip them (rows stay aligned with seqs).
                    if prints.append(item: seqs.count, embedding: Self.blob(row, 1)) { seqs.append(sqlite3_column_int64(row, 0)) }
                }
                let top = Self.mostSimilar(prints: prints, seqs: seqs, to: ownSeq, limit: limit)
                let summaries = try Self.summaries(seqs: top.map(\.seq), in: db)
                let phashes = try Self.perceptualHashes(seqs: [ownSeq] + top.map(\.seq), in: db)
                return Self.similarImages(target: target, ownSeq: ownSeq, top: top, summaries: summaries, phashes: phashes)
            }
        }
    }

    /// Refuses distances and similarities outside their ranges.
    static func validate(_ query: DuplicateQuery) throws {
        guard (0...32).contains(query.maxDistance) else {
            throw LabelStoreError.invalidQuery("maximum hash distance \(query.maxDistance) is outside 0-32")
        }
        if let minimum = query.minSimilarity, !(-1...1).contains(minimum) {
            throw LabelStoreError.invalidQuery("minimum similarity \(minimum) is outside -1 to 1")
        }
    }

    /// Groups of item numbers joined by hash distance or embedding similarity (either backend's rows).
    static func duplicateItemGroups(
        hashed: [(item: Int, hash: UInt64)], models: [String: Fingerprints], itemCount: Int, query: DuplicateQuery
    ) -> [[Int]] {
        var pairs = SimilaritySearch.hashPairs(hashed.map(\.hash), maxDistance: query.maxDistance).map {
            (hashed[$0.0].item, hashed[$0.1].item)
        }
        if let minimum = query.minSimilarity {
            // Only embeddings of one model compare; each model's images are searched apart.
            for prints in models.values where prints.width > 0 {
                let rows = SimilaritySearch.centred(prints.flat, width: prints.width)
                pairs += SimilaritySearch.embeddingPairs(rows, width: prints.width, minimum: minimum).map {
                    (prints.items[$0.0], prints.items[$0.1])
                }
            }
        }
        return SimilaritySearch.groups(count: itemCount, pairs: pairs)
    }

    /// The `limit` rows most like the row of `ownSeq` (rows of `prints` in the order of `seqs`).
    static func mostSimilar(prints: Fingerprints, seqs: [Int64], to ownSeq: Int64, limit: Int) -> [(seq: Int64, similarity: Double)] {
        guard let ownRow = seqs.firstIndex(of: ownSeq), prints.width > 0 else { return [] }
        let scores = SimilaritySearch.centredCosines(prints.flat, width: prints.width, to: ownRow)
        return SimilaritySearch.best(scores, count: limit, excluding: ownRow).map { (seqs[$0], Double(scores[$0])) }
    }

    /// The answer of `similarImages`, the matches' summaries and hashes read by the backend.
    static func similarImages(
        target: ImageDetail, ownSeq: Int64, top: [(seq: Int64, similarity: Double)], summaries: [Int64: ImageSummary], phashes: [Int64: UInt64]
    ) -> SimilarImages {
        let ownHash = phashes[ownSeq]
        return SimilarImages(
            image: target,
            matches: top.compactMap { item in
                guard let summary = summaries[item.seq] else { return nil }
                let distance = ownHash.flatMap { a in phashes[item.seq].map { b in (a ^ b).nonzeroBitCount } }
                return SimilarImages.Match(image: summary, similarity: (item.similarity * 10_000).rounded() / 10_000, hashDistance: distance)
            })
    }

    /// The perceptual hashes of the images with these seqs that have one.
    static func perceptualHashes(seqs: [Int64], in db: Database) throws -> [Int64: UInt64] {
        var result: [Int64: UInt64] = [:]
        for start in stride(from: 0, to: seqs.count, by: 500) {
            let slice = Array(seqs[start..<min(seqs.count, start + 500)])
            let rows = try Row.fetchAll(
                db,
                sql: "SELECT seq, phash FROM images WHERE phash IS NOT NULL AND seq IN ("
                    + Array(repeating: "?", count: slice.count).joined(separator: ",") + ")",
                arguments: StatementArguments(slice))
            for row in rows { result[row[0]] = UInt64(bitPattern: row[1]) }
        }
        return result
    }

    /// Listing rows of the images with these seqs, by seq.
    static func summaries(seqs: [Int64], in db: Database) throws -> [Int64: ImageSummary] {
        guard !seqs.isEmpty else { return [:] }
        var result: [Int64: ImageSummary] = [:]
        // In slices: SQLite limits the number of bound parameters.
        for start in stride(from: 0, to: seqs.count, by: 500) {
            let slice = Array(seqs[start..<min(seqs.count, start + 500)])
            let rows = try Row.fetchAll(
                db, sql: "SELECT * FROM images WHERE seq IN (" + Array(repeating: "?", count: slice.count).joined(separator: ",") + ")",
                arguments: StatementArguments(slice))
            let records = try rows.map { try ImageRecord(row: $0) }
            let labels = try labels(of: records.map(\.id), in: db)
            for (row, record) in zip(rows, records) {
                result[row["seq"]] = ImageSummary(record, labels: labels[record.id] ?? [], matchConfidence: nil)
            }
        }
        return result
    }

    /// Runs a query and hands each row to `body` as SQLite's own statement, read with the C API.
    /// Why: the embedding scans read every row of a large table, and GRDB's row cursor added
    /// about 70 ms to a 100,000-row scan that SQLite itself steps through in about 50.
    static func scan(
        _ db: Database, sql: String, arguments: StatementArguments = [], _ body: (SQLiteStatement) throws -> Void
    ) throws {
        let statement = try db.makeStatement(sql: sql)
        try statement.setArguments(arguments)
        let raw = statement.sqliteStatement
        defer { sqlite3_reset(raw) }
        while true {
            let code = sqlite3_step(raw)
            if code == SQLITE_DONE { return }
            guard code == SQLITE_ROW else {
                throw DatabaseError(
                    resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: sql)
            }
            try body(raw)
        }
    }

    /// A blob column of the current row, valid until the next step; empty for NULL.
    static func blob(_ row: SQLiteStatement, _ column: Int32) -> UnsafeRawBufferPointer {
        // sqlite3_column_blob first, then _bytes: the order SQLite documents for a stable size.
        guard let start = sqlite3_column_blob(row, column) else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: start, count: Int(sqlite3_column_bytes(row, column)))
    }
}

/// Embeddings of one model gathered into one flat int8 buffer, with the item each row belongs to.
struct Fingerprints {
    var items: [Int] = []
    var flat: [Int8] = []
    var width = 0

    mutating func reserve(rows: Int, width: Int) {
        items.reserveCapacity(rows)
        flat.reserveCapacity(rows * width)
    }

    /// Adds one embedding; one of another width than the first (a corrupt row) or an empty one is
    /// skipped. Returns whether it was added.
    @discardableResult
    mutating func append(item: Int, embedding: UnsafeRawBufferPointer) -> Bool {
        if width == 0 { width = embedding.count }
        guard embedding.count == width, width > 0 else { return false }
        items.append(item)
        flat.append(contentsOf: embedding.bindMemory(to: Int8.self))
        return true
    }
}
