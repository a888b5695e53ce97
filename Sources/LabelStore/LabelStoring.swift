import Foundation
import PipelineModel

/// The label store the workers and `list-images` talk to; SQLite today, another backend later.
public protocol LabelStoring: Sendable {
    /// Upserts the image and replaces its labels in one transaction; redelivery is idempotent (same rows).
    func saveRecognition(image: ImageStored, labels: [DetectedLabel], model: ModelInfo, recognizedAt: Date) throws
    /// Same as `saveRecognition` for many images in one transaction (batch inference writes a batch at once).
    func saveRecognitions(_ items: [RecognitionRecord]) throws
    /// Records when the notification for an image was sent; a no-op for an unknown image.
    func markNotified(imageID: String, at: Date) throws
    /// `markNotified` for many images in one transaction (the notifier records a burst at once).
    func markNotified(_ marks: [(imageID: String, at: Date)]) throws
    /// Images matching the query, each with its labels, in the query's order.
    func images(matching query: ImageQuery) throws -> [ImageSummary]
    /// Everything about one image, by full id or unambiguous id prefix; nil when nothing matches.
    func image(idOrPrefix: String) throws -> ImageDetail?
    /// Each label or parent term with the number of images it applies to, most frequent first.
    func labelCounts(_ query: LabelCountQuery) throws -> [LabelCount]
    /// Groups of near-duplicate images (each group most recent first, groups by size).
    func duplicateGroups(_ query: DuplicateQuery) throws -> [[ImageSummary]]
    /// The images most like one image by their embeddings, most similar first; nil when the image is unknown.
    func similarImages(to idOrPrefix: String, limit: Int) throws -> SimilarImages?
    /// Images recognized and notified so far (metrics).
    func counts() throws -> StoreCounts
    /// Stage times of up to `limit` images after row `seq`, in row order (metrics' latency histograms).
    func stageTimes(afterSeq seq: Int64, limit: Int) throws -> [ImageStageTimes]
    /// Result lines of SQLite's integrity check plus the store's own consistency checks; `["ok"]` when sound.
    func integrityCheck() throws -> [String]
}

/// One image's recognition result, as `saveRecognitions` takes it.
public struct RecognitionRecord: Sendable, Equatable {
    public var image: ImageStored
    public var labels: [DetectedLabel]
    public var model: ModelInfo
    public var recognizedAt: Date
    /// The image's categories (searchable with `ImageQuery.category`).
    public var categories: [LabelCategory]
    /// Brightness, contrast, sharpness and colours, when the properties analyzer ran.
    public var properties: ImageProperties?
    /// Perceptual hash and embedding, when the similarity analyzer ran.
    public var similarity: SimilaritySection?
    /// Faces, when the face analyzer ran (`ImageQuery.minFaces`).
    public var faces: FacesSection?
    /// Moderation labels, when the moderation analyzer ran (`ImageQuery.safety`).
    public var moderation: ModerationSection?
    /// Text lines and words, when the text analyzer ran (`ImageQuery.text`).
    public var text: TextSection?

    /// One recognition result.
    public init(
        image: ImageStored, labels: [DetectedLabel], model: ModelInfo, recognizedAt: Date, categories: [LabelCategory] = [],
        properties: ImageProperties? = nil, similarity: SimilaritySection? = nil, faces: FacesSection? = nil,
        moderation: ModerationSection? = nil, text: TextSection? = nil
    ) {
        self.text = text
        self.similarity = similarity
        self.faces = faces
        self.moderation = moderation
        self.image = image
        self.labels = labels
        self.model = model
        self.recognizedAt = recognizedAt
        self.categories = categories
        self.properties = properties
    }
}
