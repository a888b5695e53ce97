import Foundation
import GRDB

/// A row of `labels`: one label of an image as the classifier reported it, parents as JSON text.
struct LabelRecord: Codable, FetchableRecord, PersistableRecord, Sendable, Equatable {
    static let databaseTableName = "labels"
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase

    var imageId: String
    /// 0 for the most confident label.
    var rank: Int
    var name: String
    /// 0-100.
    var confidence: Double
    /// JSON array of parent names, nearest first (GRDB stores Codable arrays as JSON text).
    var parents: [String]
    /// JSON arrays like `parents`.
    var aliases: [String]
    var categories: [String]

    enum Columns {
        static let imageID = Column("image_id")
        static let rank = Column("rank")
        static let name = Column("name")
        static let confidence = Column("confidence")
        static let parents = Column("parents")
    }
}
