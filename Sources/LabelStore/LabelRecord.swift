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

extension LabelRecord {
    /// Reads a row by column position rather than through `Decodable` (which looked up each column
    /// by its converted name and ran a JSON decoder per array): listings read ten or so labels per
    /// image, and the generic path was most of a listing's time.
    init(row: Row) throws {
        imageId = row["image_id"]
        rank = row["rank"]
        name = row["name"]
        confidence = row["confidence"]
        parents = try Self.strings(row["parents"])
        aliases = try Self.strings(row["aliases"])
        categories = try Self.strings(row["categories"])
    }

    /// A JSON array of strings as GRDB stored it; most are empty.
    static func strings(_ text: String?) throws -> [String] {
        guard let text, text != "[]", !text.isEmpty else { return [] }
        return try decoder.decode([String].self, from: Data(text.utf8))
    }

    /// One decoder for every row (decoding keeps no state between calls).
    private static let decoder = JSONDecoder()
}
