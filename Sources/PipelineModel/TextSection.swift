/// A point on the upright image, 0-1 of its width and height.
public struct ImagePoint: Codable, Sendable, Equatable {
    public var x: Double
    public var y: Double

    public init(x: Double, y: Double) {
        self.x = x
        self.y = y
    }
}

/// One piece of text the text analyzer read, in the style of the cloud service's text detection:
/// a LINE, or a WORD of a line (`parentId` names the line).
public struct TextDetection: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case line = "LINE"
        case word = "WORD"
    }

    /// Unique within the image; lines first, in reading order (top to bottom, then left to right).
    public var id: Int
    public var type: Kind
    public var text: String
    /// 0-100: the recognizer's mean probability of the line's (or word's) characters.
    public var confidence: Double
    /// The line a word belongs to; nil for a line.
    public var parentId: Int?
    /// The axis-aligned box around the polygon.
    public var box: BoundingBox
    /// The four corners of the (possibly rotated) text box, clockwise from the top-left of the text.
    public var polygon: [ImagePoint]

    public init(
        id: Int, type: Kind, text: String, confidence: Double, parentId: Int?, box: BoundingBox, polygon: [ImagePoint]
    ) {
        self.id = id
        self.type = type
        self.text = text
        self.confidence = confidence
        self.parentId = parentId
        self.box = box
        self.polygon = polygon
    }
}

/// What the text analyzer read: lines and their words. No cap on the count unless `maxWords` was set
/// (then `truncated` tells that words were left out).
public struct TextSection: Codable, Sendable, Equatable {
    public var model: ModelInfo
    public var detections: [TextDetection]
    public var truncated: Bool

    public init(model: ModelInfo, detections: [TextDetection], truncated: Bool = false) {
        self.model = model
        self.detections = detections
        self.truncated = truncated
    }

    public var lines: [TextDetection] { detections.filter { $0.type == .line } }
    public var words: [TextDetection] { detections.filter { $0.type == .word } }
    /// The lines' text, one per line: what full-text search indexes.
    public var fullText: String { lines.map(\.text).joined(separator: "\n") }
}
