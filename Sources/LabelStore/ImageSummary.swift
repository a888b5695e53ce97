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
    /// The image's categories, most confident first (empty when recognized without them).
    public var categories: [LabelCategory]
    /// Brightness, contrast, sharpness and dominant colours; nil when not measured.
    public var properties: ImageProperties?
    /// The perceptual hash (16 hex digits); nil when not computed.
    public var perceptualHash: String?
    /// Faces, most confident first; nil when the face analyzer did not run.
    public var faces: [DetectedFace]?
    /// Moderation labels and verdict; nil when the moderation analyzer did not run.
    public var moderation: ModerationSection?
    /// Text lines and words; nil when the text analyzer did not run.
    public var text: TextSection?
    /// This image's place in the listing it came from (`ImageQuery.after` continues after it);
    /// nil for an image read on its own or decoded from JSON. Not part of the JSON.
    public var cursor: ListingCursor?

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
        case categories, properties
        case perceptualHash = "perceptual_hash"
        case faces, moderation, text
    }

    init(_ record: ImageRecord, labels: [LabelRecord], matchConfidence: Double?, cursor: ListingCursor? = nil) {
        self.cursor = cursor
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
        self.labels = labels.sorted { $0.rank < $1.rank }.map {
            DetectedLabel(name: $0.name, confidence: $0.confidence, parents: $0.parents, aliases: $0.aliases, categories: $0.categories)
        }
        self.matchConfidence = matchConfidence
        categories = LabelDatabase.decodeJSON([LabelCategory].self, record.categories) ?? []
        perceptualHash = record.phash.map { SimilaritySection.hashText(UInt64(bitPattern: $0)) }
        faces = LabelDatabase.decodeJSON(FacesSection.self, record.faces)?.faces
        moderation = LabelDatabase.decodeJSON(ModerationSection.self, record.moderation)
        text = LabelDatabase.decodeJSON(TextSection.self, record.text)
        if let brightness = record.brightness, let contrast = record.contrast, let sharpness = record.sharpness {
            properties = ImageProperties(
                brightness: brightness, contrast: contrast, sharpness: sharpness,
                colors: LabelDatabase.decodeJSON([DominantColor].self, record.colors) ?? [])
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        name = try container.decode(String.self, forKey: .name)
        sourceURL = try container.decode(String.self, forKey: .sourceURL)
        storedPath = try container.decode(String.self, forKey: .storedPath)
        byteSize = try container.decode(Int.self, forKey: .byteSize)
        contentType = try container.decode(String.self, forKey: .contentType)
        width = try container.decode(Int.self, forKey: .width)
        height = try container.decode(Int.self, forKey: .height)
        fetchedAt = try container.decode(Date.self, forKey: .fetchedAt)
        recognizedAt = try container.decode(Date.self, forKey: .recognizedAt)
        notifiedAt = try container.decodeIfPresent(Date.self, forKey: .notifiedAt)
        modelName = try container.decode(String.self, forKey: .modelName)
        modelVersion = try container.decode(String.self, forKey: .modelVersion)
        labels = try container.decode([DetectedLabel].self, forKey: .labels)
        matchConfidence = try container.decodeIfPresent(Double.self, forKey: .matchConfidence)
        // Output of older versions has neither field.
        categories = try container.decodeIfPresent([LabelCategory].self, forKey: .categories) ?? []
        properties = try container.decodeIfPresent(ImageProperties.self, forKey: .properties)
        perceptualHash = try container.decodeIfPresent(String.self, forKey: .perceptualHash)
        faces = try container.decodeIfPresent([DetectedFace].self, forKey: .faces)
        moderation = try container.decodeIfPresent(ModerationSection.self, forKey: .moderation)
        text = try container.decodeIfPresent(TextSection.self, forKey: .text)
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
        try container.encode(categories, forKey: .categories)
        try container.encode(properties, forKey: .properties)
        try container.encode(perceptualHash, forKey: .perceptualHash)
        try container.encode(faces, forKey: .faces)
        try container.encode(moderation, forKey: .moderation)
        try container.encode(text, forKey: .text)
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
