import Foundation
import GRDB

/// A row of `images`: one stored, recognized image.
struct ImageRecord: Codable, FetchableRecord, PersistableRecord, Sendable, Equatable {
    static let databaseTableName = "images"
    // Unix seconds as REAL: compact in the time indexes, exact enough, and easy to compare in SQL.
    static let databaseDateEncodingStrategy = DatabaseDateEncodingStrategy.timeIntervalSince1970
    static let databaseDateDecodingStrategy = DatabaseDateDecodingStrategy.timeIntervalSince1970
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase

    var id: String
    var name: String
    var sourceUrl: String
    var storedPath: String
    var byteSize: Int
    var contentType: String
    var width: Int
    var height: Int
    var fetchedAt: Date
    var recognizedAt: Date
    var modelName: String
    var modelVersion: String
    var notifiedAt: Date?
    var brightness: Double?
    var contrast: Double?
    var sharpness: Double?
    /// JSON array of `DominantColor`, or nil before properties were measured.
    var colors: String?
    /// JSON array of `LabelCategory`, or nil for a model without categories.
    var categories: String?
    /// The perceptual hash's bits.
    var phash: Int64?
    /// Faces found, or nil when the face analyzer did not run.
    var faceCount: Int?
    /// JSON `FacesSection`, or nil.
    var faces: String?
    /// JSON `ModerationSection`, or nil.
    var moderation: String?
    /// 1 unsafe, 0 safe, nil not moderated.
    var unsafe: Int?
    /// JSON `TextSection`, or nil when the text analyzer did not run.
    var text: String?

    enum Columns {
        static let id = Column("id")
        static let name = Column("name")
        static let sourceURL = Column("source_url")
        static let storedPath = Column("stored_path")
        static let byteSize = Column("byte_size")
        static let contentType = Column("content_type")
        static let width = Column("width")
        static let height = Column("height")
        static let fetchedAt = Column("fetched_at")
        static let recognizedAt = Column("recognized_at")
        static let modelName = Column("model_name")
        static let modelVersion = Column("model_version")
        static let notifiedAt = Column("notified_at")
        static let sharpness = Column("sharpness")
    }
}

extension ImageRecord {
    /// Reads a row by column name without `Decodable`'s per-column key conversion (see `LabelRecord.init(row:)`).
    init(row: Row) throws {
        id = row["id"]
        name = row["name"]
        sourceUrl = row["source_url"]
        storedPath = row["stored_path"]
        byteSize = row["byte_size"]
        contentType = row["content_type"]
        width = row["width"]
        height = row["height"]
        fetchedAt = Date(timeIntervalSince1970: row["fetched_at"])
        recognizedAt = Date(timeIntervalSince1970: row["recognized_at"])
        modelName = row["model_name"]
        modelVersion = row["model_version"]
        notifiedAt = (row["notified_at"] as Double?).map { Date(timeIntervalSince1970: $0) }
        brightness = row["brightness"]
        contrast = row["contrast"]
        sharpness = row["sharpness"]
        colors = row["colors"]
        categories = row["categories"]
        phash = row["phash"]
        faceCount = row["face_count"]
        faces = row["faces"]
        moderation = row["moderation"]
        unsafe = row["unsafe"]
        text = row["text"]
    }
}
