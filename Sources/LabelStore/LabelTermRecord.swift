import Foundation
import GRDB
import PipelineModel

/// A row of `label_terms`: one searchable term (a label or any of its parents) of one image.
///
/// Derived from `labels` so that "label or any parent matches, case-insensitively" is an index
/// range scan instead of a JSON scan; the image's recognition time is copied in so that one
/// index yields a term's images already in time order.
struct LabelTermRecord: Codable, FetchableRecord, PersistableRecord, Sendable, Equatable {
    static let databaseTableName = "label_terms"
    static let databaseDateEncodingStrategy = DatabaseDateEncodingStrategy.timeIntervalSince1970
    static let databaseDateDecodingStrategy = DatabaseDateDecodingStrategy.timeIntervalSince1970
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase

    var term: String
    /// `images.seq` of the image.
    var imageSeq: Int64
    /// Confidence of the most confident label that carries this term.
    var confidence: Double
    var recognizedAt: Date

    enum Columns {
        static let term = Column("term")
        static let imageSeq = Column("image_seq")
        static let confidence = Column("confidence")
        static let recognizedAt = Column("recognized_at")
    }

    /// Prefix of the rows that index an image's categories ("category:animals").
    static let categoryPrefix = "category:"
    /// Prefix of the rows that index an image's dominant colours ("color:blue", "color:navy").
    static let colorPrefix = "color:"
    /// Prefix of the rows that count an image's faces: "faces:1" up to "faces:<count>" (at most
    /// `maxFaceTerms`), each with the confidence of that many-th most confident face.
    static let facesPrefix = "faces:"
    static let maxFaceTerms = 50
    /// Prefix of the moderation rows: "moderation:safe" or "moderation:unsafe", and one per
    /// reported moderation label ("moderation:Explicit").
    static let moderationPrefix = "moderation:"
    /// The namespaces of rows that are not labels.
    static let namespaces = [categoryPrefix, colorPrefix, facesPrefix, moderationPrefix]

    /// Every searchable term of one recognition: each label, alias and parent with the highest
    /// confidence of the labels carrying it; each category with its confidence; each colour name
    /// (basic and CSS) with its summed pixel share.
    static func terms(
        labels: [(name: String, confidence: Double, parents: [String], aliases: [String])], categories: [LabelCategory],
        colors: [DominantColor], faces: [DetectedFace] = [], moderation: ModerationSection? = nil
    ) -> [(term: String, confidence: Double)] {
        var entries = labels.map { (names: [$0.name] + $0.aliases + $0.parents, confidence: $0.confidence) }
        entries += categories.map { ([categoryPrefix + $0.id], $0.confidence) }
        var shares: [String: (name: String, share: Double)] = [:]
        var colorOrder: [String] = []
        for color in colors {
            for name in Set([color.simpleName, color.cssName]) {
                let key = asciiFolded(name)
                if shares[key] == nil { colorOrder.append(key) }
                shares[key] = (name, (shares[key]?.share ?? 0) + color.share)
            }
        }
        entries += colorOrder.compactMap { shares[$0] }.map { ([colorPrefix + $0.name], min(100, ($0.share * 100).rounded() / 100)) }
        let faceConfidences = faces.map(\.confidence).sorted(by: >).prefix(maxFaceTerms)
        entries += faceConfidences.enumerated().map { ([facesPrefix + "\($0.offset + 1)"], $0.element) }
        if let moderation {
            entries.append(([moderationPrefix + (moderation.isUnsafe ? "unsafe" : "safe")], 100))
            entries += moderation.labels.map { ([moderationPrefix + $0.name], $0.confidence) }
        }
        return terms(of: entries)
    }

    /// The distinct terms of a label set, each with the highest confidence of the labels carrying it.
    static func terms(of labels: [(name: String, confidence: Double, parents: [String])]) -> [(term: String, confidence: Double)] {
        terms(of: labels.map { ([$0.name] + $0.parents, $0.confidence) })
    }

    private static func terms(of entries: [(names: [String], confidence: Double)]) -> [(term: String, confidence: Double)] {
        var order: [String] = []
        var best: [String: (term: String, confidence: Double)] = [:]
        for label in entries {
            for raw in label.names {
                let term = raw.trimmingCharacters(in: .whitespacesAndNewlines)
                guard !term.isEmpty else { continue }
                // SQLite's NOCASE folds ASCII only; fold the same way so the two never disagree.
                let key = asciiFolded(term)
                if let existing = best[key] {
                    if label.confidence > existing.confidence { best[key] = (existing.term, label.confidence) }
                } else {
                    best[key] = (term, label.confidence)
                    order.append(key)
                }
            }
        }
        return order.compactMap { best[$0] }
    }

    /// Lowercases ASCII letters only, exactly like SQLite's NOCASE collation.
    static func asciiFolded(_ text: String) -> String { text.asciiFolded }
}
