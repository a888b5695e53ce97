/// A rectangle on the upright image (EXIF rotation applied), each value 0-1 of the image's
/// width or height: `left` and `top` from the top-left corner.
public struct BoundingBox: Codable, Sendable, Equatable {
    public var left: Double
    public var top: Double
    public var width: Double
    public var height: Double

    public init(left: Double, top: Double, width: Double, height: Double) {
        self.left = left
        self.top = top
        self.width = width
        self.height = height
    }
}

/// A landmark of a face, 0-1 of the upright image's width and height.
public struct FaceKeypoint: Codable, Sendable, Equatable {
    /// "left eye", "right eye", "nose tip", "mouth", "left ear", "right ear" (BlazeFace's six;
    /// left and right are the image's, as MediaPipe names them).
    public var type: String
    public var x: Double
    public var y: Double

    public init(type: String, x: Double, y: Double) {
        self.type = type
        self.x = x
        self.y = y
    }
}

/// One face the face analyzer found.
public struct DetectedFace: Codable, Sendable, Equatable {
    public var box: BoundingBox
    /// 0-100.
    public var confidence: Double
    public var keypoints: [FaceKeypoint]

    public init(box: BoundingBox, confidence: Double, keypoints: [FaceKeypoint]) {
        self.box = box
        self.confidence = confidence
        self.keypoints = keypoints
    }
}

/// What the face analyzer found: every face, most confident first.
public struct FacesSection: Codable, Sendable, Equatable {
    public var model: ModelInfo
    public var faces: [DetectedFace]

    public init(model: ModelInfo, faces: [DetectedFace]) {
        self.model = model
        self.faces = faces
    }
}

/// A moderation label in the style of the cloud service's moderation taxonomy: a top-level
/// label has `taxonomyLevel` 1 and an empty `parentName`; a second-level one names its parent.
public struct ModerationLabel: Codable, Sendable, Equatable {
    public var name: String
    public var parentName: String
    public var taxonomyLevel: Int
    /// 0-100.
    public var confidence: Double

    public init(name: String, parentName: String, taxonomyLevel: Int, confidence: Double) {
        self.name = name
        self.parentName = parentName
        self.taxonomyLevel = taxonomyLevel
        self.confidence = confidence
    }
}

/// What the moderation analyzer found: the labels at or above `minConfidence`, most confident
/// first, and the moderation model's own score. An image is unsafe when any label is reported.
public struct ModerationSection: Codable, Sendable, Equatable {
    public var model: ModelInfo
    public var labels: [ModerationLabel]
    /// The threshold the labels passed (`--min-moderation-confidence`), 0-100.
    public var minConfidence: Double
    /// The moderation model's "not safe for work" probability, 0-100, whatever the threshold.
    public var nsfwScore: Double

    public init(model: ModelInfo, labels: [ModerationLabel], minConfidence: Double, nsfwScore: Double) {
        self.model = model
        self.labels = labels
        self.minConfidence = minConfidence
        self.nsfwScore = nsfwScore
    }

    /// Whether any moderation label passed the threshold.
    public var isUnsafe: Bool { !labels.isEmpty }
}
