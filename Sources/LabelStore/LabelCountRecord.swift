import Foundation
import GRDB

/// A row of `label_counts`: how many images carry a term, kept current by triggers on `label_terms`
/// so that listing all terms by frequency never scans millions of rows.
struct LabelCountRecord: Codable, FetchableRecord, PersistableRecord, Sendable, Equatable {
    static let databaseTableName = "label_counts"
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase

    var term: String
    var imageCount: Int

    enum Columns {
        static let term = Column("term")
        static let imageCount = Column("image_count")
    }
}
