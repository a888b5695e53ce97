import Foundation

/// Attribute keys every pipeline message carries (subscription filters match on them).
public enum MessageAttribute {
    /// The message type, equal to the topic it is first published on.
    public static let type = "type"
    /// The schema version of the body.
    public static let schemaVersion = "schema"
    /// The image the message is about.
    public static let imageID = "image.id"
    /// The image's MIME type.
    public static let contentType = "content.type"
}

/// Body of `image.stored`: an image was downloaded, verified and stored by content hash.
public struct ImageStored: Codable, Sendable, Equatable {
    /// Version of this schema; bumped on incompatible change.
    public static let currentSchemaVersion = 1
    public var schemaVersion: Int
    /// SHA-256 of the image bytes, lowercase hex.
    public var imageID: String
    /// Human name (given with the URL, or derived from it).
    public var name: String
    /// Where the image was downloaded from.
    public var sourceURL: String
    /// Absolute path of the stored file.
    public var storedPath: String
    public var byteSize: Int
    /// MIME type detected from the bytes (not the server's claim).
    public var contentType: String
    public var width: Int
    public var height: Int
    public var fetchedAt: Date
    /// How long fetching took (absent in messages from before it was recorded).
    public var timing: FetchTiming?

    public init(
        imageID: String, name: String, sourceURL: String, storedPath: String, byteSize: Int,
        contentType: String, width: Int, height: Int, fetchedAt: Date, timing: FetchTiming? = nil
    ) {
        self.schemaVersion = Self.currentSchemaVersion
        self.imageID = imageID
        self.name = name
        self.sourceURL = sourceURL
        self.storedPath = storedPath
        self.byteSize = byteSize
        self.contentType = contentType
        self.width = width
        self.height = height
        self.fetchedAt = fetchedAt
        self.timing = timing
    }
}

/// When fetch-image read an image's URL, and how long downloading and storing it took.
public struct FetchTiming: Codable, Sendable, Equatable {
    /// When the URL was read from the input: the start of the image's end-to-end latency.
    public var requestedAt: Date
    /// Downloading, every attempt included.
    public var downloadMs: Double
    /// Checking the bytes, hashing and durably writing the file (publishing comes after: its
    /// time counts in the recognizer's queue wait).
    public var storeMs: Double
    public init(requestedAt: Date, downloadMs: Double, storeMs: Double) {
        self.requestedAt = requestedAt
        self.downloadMs = downloadMs
        self.storeMs = storeMs
    }
}

/// One label as a label-detection service reports it.
public struct DetectedLabel: Codable, Sendable, Equatable {
    /// Label name, e.g. "tabby cat".
    public var name: String
    /// Confidence 0-100.
    public var confidence: Double
    /// More general labels, nearest first, e.g. ["cat", "pet", "mammal", "animal"].
    public var parents: [String]
    /// Other names the label is found by, e.g. "cab" and "taxicab" for "taxi". Absent when none
    /// (and in messages written before aliases existed).
    public var aliases: [String]?
    /// Ids of the user-facing categories of the classes the label covers, e.g. ["animals"].
    public var categories: [String]?

    public init(name: String, confidence: Double, parents: [String], aliases: [String]? = nil, categories: [String]? = nil) {
        self.name = name
        self.confidence = confidence
        self.parents = parents
        self.aliases = aliases.flatMap { $0.isEmpty ? nil : $0 }
        self.categories = categories.flatMap { $0.isEmpty ? nil : $0 }
    }
}

/// A user-facing category of an image ("Animals and pets"), as confident as the classes in it together.
public struct LabelCategory: Codable, Sendable, Equatable {
    /// Stable id, e.g. "animals"; what `--category` filters take.
    public var id: String
    /// Display name, e.g. "Animals and pets".
    public var name: String
    /// Confidence 0-100: the summed probability of the category's classes.
    public var confidence: Double

    public init(id: String, name: String, confidence: Double) {
        self.id = id
        self.name = name
        self.confidence = confidence
    }
}

/// Which model produced labels.
public struct ModelInfo: Codable, Sendable, Equatable {
    public var name: String
    public var version: String
    public init(name: String, version: String) {
        self.name = name
        self.version = version
    }
}

/// Milliseconds spent in each stage of recognition.
public struct RecognitionTiming: Codable, Sendable, Equatable {
    public var decodeMs: Double
    public var inferenceMs: Double
    public var databaseMs: Double
    /// Time the message waited in the queue before this worker took it.
    public var queueWaitMs: Double
    public init(decodeMs: Double, inferenceMs: Double, databaseMs: Double, queueWaitMs: Double) {
        self.decodeMs = decodeMs
        self.inferenceMs = inferenceMs
        self.databaseMs = databaseMs
        self.queueWaitMs = queueWaitMs
    }
}

/// The analyses a recognizer can run on an image, each reported as one section of
/// `image.labeled` (the `--features` names).
public enum AnalysisFeature: String, Codable, Sendable, CaseIterable {
    /// Labels from an image classifier, with parent labels.
    case labels
    /// Brightness, contrast, sharpness and dominant colours.
    case properties
    /// A perceptual hash and a compact feature vector, for near-duplicates and "more like this".
    case similarity
    /// Faces: boxes, confidences and keypoints; a "person" label when there are any.
    case faces
    /// Moderation labels (explicit content, weapons, swimwear or underwear) and whether the
    /// image is unsafe.
    case moderation
    /// Text in the image: lines and words with boxes, searchable.
    case text
}

/// What the similarity analyzer computed: fingerprints to find copies and look-alikes.
public struct SimilaritySection: Codable, Sendable, Equatable {
    /// 64-bit perceptual hash as 16 lowercase hex digits; resized, re-encoded, lightly cropped and
    /// mirrored copies of a photo differ in few bits.
    public var perceptualHash: String
    /// The classifier's pooled features, projected to a few hundred dimensions and quantized to
    /// int8 (base64); compared by cosine similarity, only with vectors of the same `embeddingModel`.
    public var embedding: String
    /// Model, version and projection that made `embedding`.
    public var embeddingModel: String

    public init(perceptualHash: String, embedding: String, embeddingModel: String) {
        self.perceptualHash = perceptualHash
        self.embedding = embedding
        self.embeddingModel = embeddingModel
    }
}

/// What the properties analyzer measured: the image's look, on the pixels the classifier sees.
public struct ImageProperties: Codable, Sendable, Equatable {
    /// Mean luminance: 0 black, 100 white.
    public var brightness: Double
    /// Spread of the luminance (RMS contrast): 0 one flat tone, 100 half black and half white.
    public var contrast: Double
    /// Edge strength (variance of the Laplacian of the luminance, mapped so that 50 is an
    /// ordinary photo's focus): 0 a flat or badly blurred image, near 100 crisp fine detail.
    public var sharpness: Double
    /// Up to 10 dominant colours, largest share first.
    public var colors: [DominantColor]

    public init(brightness: Double, contrast: Double, sharpness: Double, colors: [DominantColor]) {
        self.brightness = brightness
        self.contrast = contrast
        self.sharpness = sharpness
        self.colors = colors
    }
}

/// One dominant colour of an image.
public struct DominantColor: Codable, Sendable, Equatable {
    /// The colour's mean, `#rrggbb`.
    public var hex: String
    /// The nearest CSS named colour, e.g. "steelblue".
    public var cssName: String
    /// One of the 11 basic colour words: red, orange, yellow, green, blue, purple, pink, brown,
    /// black, white, gray.
    public var simpleName: String
    /// Share of the pixels, 0-100.
    public var share: Double

    public init(hex: String, cssName: String, simpleName: String, share: Double) {
        self.hex = hex
        self.cssName = cssName
        self.simpleName = simpleName
        self.share = share
    }
}

/// What the label analyzer found: the classifier's labels and the model that gave them.
public struct LabelsSection: Codable, Sendable, Equatable {
    public var model: ModelInfo
    /// Best first.
    public var labels: [DetectedLabel]
    /// The image's categories, most confident first. Absent for models without a category taxonomy
    /// and in messages written before categories existed.
    public var categories: [LabelCategory]?

    public init(model: ModelInfo, labels: [DetectedLabel], categories: [LabelCategory]? = nil) {
        self.model = model
        self.labels = labels
        self.categories = categories.flatMap { $0.isEmpty ? nil : $0 }
    }
}

/// One analyzer's result for one image.
public enum AnalysisSection: Sendable, Equatable {
    case labels(LabelsSection)
    case properties(ImageProperties)
    case similarity(SimilaritySection)
    case faces(FacesSection)
    case moderation(ModerationSection)
    case text(TextSection)

    /// The feature this section reports.
    public var feature: AnalysisFeature {
        switch self {
        case .labels: .labels
        case .properties: .properties
        case .similarity: .similarity
        case .faces: .faces
        case .moderation: .moderation
        case .text: .text
        }
    }
}

/// Everything the recognizer's analyzers found about one image: one optional section per
/// analyzer (absent when that analyzer did not run). New analyzers add a section here.
public struct ImageAnalyses: Codable, Sendable, Equatable {
    public var labels: LabelsSection?
    public var properties: ImageProperties?
    public var similarity: SimilaritySection?
    public var faces: FacesSection?
    public var moderation: ModerationSection?
    public var text: TextSection?

    public init(
        labels: LabelsSection? = nil, properties: ImageProperties? = nil, similarity: SimilaritySection? = nil,
        faces: FacesSection? = nil, moderation: ModerationSection? = nil, text: TextSection? = nil
    ) {
        self.labels = labels
        self.properties = properties
        self.similarity = similarity
        self.faces = faces
        self.moderation = moderation
        self.text = text
    }

    /// Stores `section` in its place, replacing an earlier one of the same feature.
    public mutating func insert(_ section: AnalysisSection) {
        switch section {
        case .labels(let labels): self.labels = labels
        case .properties(let properties): self.properties = properties
        case .similarity(let similarity): self.similarity = similarity
        case .faces(let faces): self.faces = faces
        case .moderation(let moderation): self.moderation = moderation
        case .text(let text): self.text = text
        }
    }

    /// The features with a section.
    public var features: [AnalysisFeature] {
        AnalysisFeature.allCases.filter { feature in
            switch feature {
            case .labels: labels != nil
            case .properties: properties != nil
            case .similarity: similarity != nil
            case .faces: faces != nil
            case .moderation: moderation != nil
            case .text: text != nil
            }
        }
    }
}

/// Body of `image.labeled`: what the recognizer found about one stored image.
///
/// Schema 2 carries one section per analyzer in `analyses`; `labels` and `model` repeat the
/// labels section for readers of schema 1 (which had only those). A schema-1 message, without
/// `analyses`, decodes with its labels section rebuilt from `labels` and `model`.
public struct ImageLabeled: Codable, Sendable, Equatable {
    public static let currentSchemaVersion = 2
    public var schemaVersion: Int
    public var imageID: String
    public var name: String
    public var sourceURL: String
    public var byteSize: Int
    /// The labels section's labels (schema 1's field).
    public var labels: [DetectedLabel]
    /// The labels section's model (schema 1's field).
    public var model: ModelInfo
    /// One section per analyzer that ran (rebuilt from `labels` and `model` for schema 1).
    public var analyses: ImageAnalyses
    public var recognizedAt: Date
    public var timing: RecognitionTiming
    /// The fetch timing of the `image.stored` message, carried along for end-to-end latency.
    public var fetchTiming: FetchTiming?

    /// A message from the analyzers' sections; `labels` and `model` are filled from the labels section.
    public init(
        imageID: String, name: String, sourceURL: String, byteSize: Int, analyses: ImageAnalyses,
        recognizedAt: Date, timing: RecognitionTiming, fetchTiming: FetchTiming? = nil
    ) {
        self.schemaVersion = Self.currentSchemaVersion
        self.imageID = imageID
        self.name = name
        self.sourceURL = sourceURL
        self.byteSize = byteSize
        self.labels = analyses.labels?.labels ?? []
        self.model = analyses.labels?.model ?? ModelInfo(name: "none", version: "")
        self.analyses = analyses
        self.recognizedAt = recognizedAt
        self.timing = timing
        self.fetchTiming = fetchTiming
    }

    /// A message with only a labels section.
    public init(
        imageID: String, name: String, sourceURL: String, byteSize: Int, labels: [DetectedLabel],
        model: ModelInfo, recognizedAt: Date, timing: RecognitionTiming, fetchTiming: FetchTiming? = nil
    ) {
        self.init(
            imageID: imageID, name: name, sourceURL: sourceURL, byteSize: byteSize,
            analyses: ImageAnalyses(labels: LabelsSection(model: model, labels: labels)),
            recognizedAt: recognizedAt, timing: timing, fetchTiming: fetchTiming)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        schemaVersion = try container.decode(Int.self, forKey: .schemaVersion)
        imageID = try container.decode(String.self, forKey: .imageID)
        name = try container.decode(String.self, forKey: .name)
        sourceURL = try container.decode(String.self, forKey: .sourceURL)
        byteSize = try container.decode(Int.self, forKey: .byteSize)
        labels = try container.decode([DetectedLabel].self, forKey: .labels)
        model = try container.decode(ModelInfo.self, forKey: .model)
        analyses =
            try container.decodeIfPresent(ImageAnalyses.self, forKey: .analyses)
            ?? ImageAnalyses(labels: LabelsSection(model: model, labels: labels))
        recognizedAt = try container.decode(Date.self, forKey: .recognizedAt)
        timing = try container.decode(RecognitionTiming.self, forKey: .timing)
        fetchTiming = try container.decodeIfPresent(FetchTiming.self, forKey: .fetchTiming)
    }
}

/// The one JSON encoding all messages use: ISO-8601 dates with fractional seconds, sorted keys.
public enum MessageCoding {
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted)))
        }
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            if let date = try? Date(
                text, strategy: .iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
            {
                return date
            }
            if let date = TimeExpression.parseISO(text, timeZone: TimeZone(secondsFromGMT: 0) ?? .current) { return date }
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an ISO-8601 date: \(text)")
        }
        return decoder
    }
}
