import Foundation
import GRDB

extension LabelDatabase {
    /// Groups of near-duplicates: images whose perceptual hashes are within `maxDistance` bits,
    /// or whose embeddings (of the same model) reach `minSimilarity`, joined transitively. Each
    /// group is most recently recognized first; larger groups first.
    public func duplicateGroups(_ query: DuplicateQuery) throws -> [[ImageSummary]] {
        guard (0...32).contains(query.maxDistance) else {
            throw LabelStoreError.invalidQuery("maximum hash distance \(query.maxDistance) is outside 0-32")
        }
        if let minimum = query.minSimilarity, !(-1...1).contains(minimum) {
            throw LabelStoreError.invalidQuery("minimum similarity \(minimum) is outside -1 to 1")
        }
        return try Self.wrap(path, "find duplicates") {
            try pool.read { db in
                let rows = try Row.fetchAll(
                    db, sql: "SELECT seq, phash, embedding, embedding_model FROM images WHERE phash IS NOT NULL OR embedding IS NOT NULL")
                let seqs: [Int64] = rows.map { $0["seq"] }
                var pairs: [(Int, Int)] = []
                let hashed = rows.indices.filter { (rows[$0]["phash"] as Int64?) != nil }
                let hashes = hashed.map { UInt64(bitPattern: rows[$0]["phash"] as Int64? ?? 0) }
                pairs += SimilaritySearch.hashPairs(hashes, maxDistance: query.maxDistance).map { (hashed[$0.0], hashed[$0.1]) }
                if let minimum = query.minSimilarity {
                    // Only embeddings of one model compare; each model's images are searched apart.
                    let byModel = Dictionary(grouping: rows.indices.filter { (rows[$0]["embedding"] as Data?) != nil }) {
                        rows[$0]["embedding_model"] as String? ?? ""
                    }
                    for members in byModel.values {
                        let (centred, width) = SimilaritySearch.centred(members.map { rows[$0]["embedding"] as Data? ?? Data() })
                        pairs += SimilaritySearch.embeddingPairs(centred, width: width, minimum: minimum).map { (members[$0.0], members[$0.1]) }
                    }
                }
                let groups = SimilaritySearch.groups(count: rows.count, pairs: pairs)
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
                    let own = try Row.fetchOne(db, sql: "SELECT seq, phash, embedding_model FROM images WHERE id = ?", arguments: [target.id]),
                    let model = own["embedding_model"] as String?
                else {
                    throw LabelStoreError.invalidQuery(
                        "image \(target.id.prefix(12)) has no embedding (recognized without the similarity analysis); recognize it again")
                }
                let ownSeq: Int64 = own["seq"]
                let rows = try Row.fetchAll(db, sql: "SELECT seq, phash, embedding FROM images WHERE embedding_model = ?", arguments: [model])
                let (centred, width) = SimilaritySearch.centred(rows.map { $0["embedding"] as Data? ?? Data() })
                guard let ownRow = rows.firstIndex(where: { ($0["seq"] as Int64) == ownSeq }) else {
                    return SimilarImages(image: target, matches: [])
                }
                var scored: [(row: Int, similarity: Double)] = []
                centred.withUnsafeBufferPointer { buffer in
                    for row in rows.indices where row != ownRow {
                        scored.append((row, SimilaritySearch.cosine(buffer, width: width, ownRow, row)))
                    }
                }
                scored.sort { $0.similarity > $1.similarity }
                let top = scored.prefix(limit)
                let summaries = try Self.summaries(seqs: top.map { rows[$0.row]["seq"] }, in: db)
                let ownHash = (own["phash"] as Int64?).map { UInt64(bitPattern: $0) }
                return SimilarImages(
                    image: target,
                    matches: top.compactMap { item in
                        let seq: Int64 = rows[item.row]["seq"]
                        guard let summary = summaries[seq] else { return nil }
                        let hash = (rows[item.row]["phash"] as Int64?).map { UInt64(bitPattern: $0) }
                        let distance = ownHash.flatMap { a in hash.map { b in (a ^ b).nonzeroBitCount } }
                        return SimilarImages.Match(image: summary, similarity: (item.similarity * 10_000).rounded() / 10_000, hashDistance: distance)
                    })
            }
        }
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
}
