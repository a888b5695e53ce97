import Foundation
import PipelineModel

/// One row of an image listing: the image, its labels, and how well it matched.
public struct ImageSummary: Sendable, Equatable, Codable {
    public var id: String
    public var name: String
    public var sourceURL: String
    public var storedPath: String
    public var byteSize: Int
    public var contentType: String
    public var width: Int
    public var height: Int
    public var fetchedAt: Date
    public var recognizedAt: Date
    public var notifiedAt: Date?
    public var modelName: String
    public var modelVersion: String
    /// Most confident first.
    public var labels: [DetectedLabel]
    /// Confidence of the best label matching the label filter; without one, the top label's.
    public var matchConfidence: Double?

    /// Field names of the JSON and CSV output, documented in docs/LIST-IMAGES.md; never renamed.
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case id, name
        case sourceURL = "source_url"
        case storedPath = "stored_path"
        case byteSize = "byte_size"
        case contentType = "content_type"
        case width, height
        case fetchedAt = "fetched_at"
        case recognizedAt = "recognized_at"
        case notifiedAt = "notified_at"
        case modelName = "model_name"
        case modelVersion = "model_version"
        case labels
        case matchConfidence = "match_confidence"
    }

    init(_ record: ImageRecord, labels: [LabelRecord], matchConfidence: Double?) {
        id = record.id
        name = record.name
        sourceURL = record.sourceUrl
        storedPath = record.storedPath
        byteSize = record.byteSize
        contentType = record.contentType
        width = record.width
        height = record.height
        fetchedAt = record.fetchedAt
        recognizedAt = record.recognizedAt
        notifiedAt = record.notifiedAt
        modelName = record.modelName
        modelVersion = record.modelVersion
        self.labels = labels.sorted { $0.rank < $1.rank }.map { DetectedLabel(name: $0.name, confidence: $0.confidence, parents: $0.parents) }
        self.matchConfidence = matchConfidence
    }

    /// Encodes every field, absent values as explicit nulls.
    public func encode(to encoder: any Encoder) throws {
        try encode(to: encoder, withMatchConfidence: true)
    }

    /// Encodes the fields; `withMatchConfidence` false leaves `match_confidence` out (`show`).
    func encode(to encoder: any Encoder, withMatchConfidence: Bool) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(name, forKey: .name)
        try container.encode(sourceURL, forKey: .sourceURL)
        try container.encode(storedPath, forKey: .storedPath)
        try container.encode(byteSize, forKey: .byteSize)
        try container.encode(contentType, forKey: .contentType)
        try container.encode(width, forKey: .width)
        try container.encode(height, forKey: .height)
        try container.encode(fetchedAt, forKey: .fetchedAt)
        try container.encode(recognizedAt, forKey: .recognizedAt)
        // Explicit nulls: a consumer can tell "not yet notified" from a missing field.
        try container.encode(notifiedAt, forKey: .notifiedAt)
        try container.encode(modelName, forKey: .modelName)
        try container.encode(modelVersion, forKey: .modelVersion)
        try container.encode(labels, forKey: .labels)
        if withMatchConfidence { try container.encode(matchConfidence, forKey: .matchConfidence) }
    }
}

/// Everything the store knows about one image (`list-images show`): a listing row's fields
/// (read them directly, e.g. `detail.labels`), encoded without `match_confidence`.
@dynamicMemberLookup
public struct ImageDetail: Sendable, Equatable, Codable {
    /// The image and its labels (most confident first, each with its parents).
    public var image: ImageSummary

    init(_ summary: ImageSummary) {
        image = summary
        image.matchConfidence = nil
    }

    public subscript<Value>(dynamicMember keyPath: WritableKeyPath<ImageSummary, Value>) -> Value {
        get { image[keyPath: keyPath] }
        set { image[keyPath: keyPath] = newValue }
    }

    public init(from decoder: any Decoder) throws {
        self.init(try ImageSummary(from: decoder))
    }

    public func encode(to encoder: any Encoder) throws {
        try image.encode(to: encoder, withMatchConfidence: false)
    }
}
