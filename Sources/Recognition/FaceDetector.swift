import Foundation
import Imaging
import Inference
import Logging
import PipelineModel

/// What a face detector's descriptor (Models/face-detection-*.json) says.
public struct FaceModelDescriptor: Decodable, Sendable {
    public struct Input: Decodable, Sendable {
        public var width: Int
        public var height: Int
    }
    public struct Outputs: Decodable, Sendable {
        public var boxes: String
        public var scores: String
    }
    public struct Anchors: Decodable, Sendable {
        public var strides: [Int]
        public var interpolatedScaleAspectRatio: Double
        public var count: Int
    }
    public var name: String
    public var version: String
    public var onnx: String
    public var input: Input
    public var outputs: Outputs
    public var anchors: Anchors
    public var minScore: Double
    public var keypoints: [String]
}

/// BlazeFace on the project's engine: the whole upright image, and overlapping tiles of it so
/// that small faces in large photos are found, each letterboxed into the model's square input;
/// anchors decoded and merged by weighted non-maximum suppression in Swift.
public final class FaceDetector: @unchecked Sendable {
    public let descriptor: FaceModelDescriptor
    /// Whether overlapping tiles are searched besides the whole image.
    public let tiles: Bool
    private let session: InferenceSession
    private let anchors: [(x: Double, y: Double)]
    private let lock = NSLock()

    /// The bundled full-range model (faces up to about 5 m from the camera).
    public static let defaultDescriptor = "face-detection-full-range.json"
    /// The longest side of the image the detector reads (a JPEG comes at 768-1536 pixels, scaled
    /// in its decoder): the tiles, 0.6 of the longer side, still have twice the model's input.
    public static let fittedSide = 1536

    public init(descriptorURL: URL, threads: Int, tiles: Bool = true, logger: Logger = Logger(label: "faces")) throws {
        let descriptor: FaceModelDescriptor
        do {
            descriptor = try JSONDecoder().decode(FaceModelDescriptor.self, from: Data(contentsOf: descriptorURL))
        } catch {
            throw RecognitionError.invalidDescriptor(path: descriptorURL.path, detail: "\(error)")
        }
        guard descriptor.input.width == descriptor.input.height, descriptor.input.width > 0 else {
            throw RecognitionError.invalidDescriptor(path: descriptorURL.path, detail: "the face model's input must be square")
        }
        let model = try ONNXModel(contentsOf: descriptorURL.deletingLastPathComponent().appendingPathComponent(descriptor.onnx))
        session = try InferenceSession(model: model, batchSize: 1, threads: threads, tap: descriptor.outputs.scores, logger: logger)
        anchors = FaceDecoding.anchors(
            inputSize: descriptor.input.width, strides: descriptor.anchors.strides,
            interpolatedScaleAspectRatio: descriptor.anchors.interpolatedScaleAspectRatio)
        guard anchors.count == descriptor.anchors.count, session.tapCount == anchors.count,
            session.outputCount == anchors.count * (4 + 2 * descriptor.keypoints.count)
        else {
            throw RecognitionError.invalidDescriptor(
                path: descriptorURL.path,
                detail: "\(anchors.count) anchors for outputs of \(session.outputCount) and \(session.tapCount) values")
        }
        self.descriptor = descriptor
        self.tiles = tiles
    }

    /// The bundled full-range detector.
    public convenience init(threads: Int, tiles: Bool = true, logger: Logger = Logger(label: "faces")) throws {
        try self.init(
            descriptorURL: ModelLocator.bundledModel(descriptor: Self.defaultDescriptor, environment: ProcessInfo.processInfo.environment),
            threads: threads, tiles: tiles, logger: logger)
    }

    public var model: ModelInfo { ModelInfo(name: descriptor.name, version: descriptor.version) }

    /// The regions searched: the whole image, then (with `tiles`) a grid of overlapping squares
    /// of 0.6 of the longer side (at least twice the model's input, at most the shorter side),
    /// at least a quarter of each shared with its neighbour, so every face smaller than that
    /// overlap is whole in some tile at about 1.7 times the whole image's resolution: 2 x 2
    /// tiles on a 4:3 or 3:2 photo, a row of 4 on a 3:1 panorama.
    public func regions(width: Int, height: Int) -> [PixelRegion] {
        var regions = [PixelRegion(x: 0, y: 0, width: width, height: height)]
        let size = descriptor.input.width
        let side = min(max(2 * size, Int((Double(max(width, height)) * 0.6).rounded())), min(width, height))
        guard tiles, max(width, height) > size * 3, side >= size else { return regions }
        func starts(_ length: Int) -> [Int] {
            guard length > side else { return [0] }
            let step = Double(side) * 0.75
            let count = Int((Double(length - side) / step).rounded(.up)) + 1
            return (0..<count).map { Int((Double(length - side) * Double($0) / Double(count - 1)).rounded()) }
        }
        for y in starts(height) {
            for x in starts(width) { regions.append(PixelRegion(x: x, y: y, width: side, height: side)) }
        }
        return regions
    }

    /// Faces in `image` with a score of at least `minConfidence` (0-100; the model's own floor
    /// applies too), most confident first, in 0-1 coordinates of the image.
    public func detect(in image: FittedImage, minConfidence: Double = 50) throws -> [DetectedFace] {
        let size = descriptor.input.width
        let minScore = max(descriptor.minScore, minConfidence / 100)
        let (width, height) = (Double(image.width), Double(image.height))
        var found: [FaceCandidate] = []
        for region in regions(width: image.width, height: image.height) {
            let (pixels, _) = try image.letterbox(region, size: size)
            // BlazeFace takes RGB in [-1, 1].
            let input = pixels.map { Float($0) / 127.5 - 1 }
            let (boxes, scores) = try lock.withLock { try input.withUnsafeBufferPointer { try session.runReadingTap(nhwc: $0) } }
            let span = Double(max(region.width, region.height))
            let whole = region.width == image.width && region.height == image.height
            for candidate in FaceDecoding.candidates(
                boxes: boxes, scores: scores, anchors: anchors, inputSize: size, keypoints: descriptor.keypoints.count, minScore: minScore)
            {
                let mapped = candidate.mapped(
                    scaleX: span / width, scaleY: span / height, offsetX: Double(region.x) / width, offsetY: Double(region.y) / height)
                // A face cut by a tile's inner edge is whole in the neighbouring tile: drop the part.
                if !whole && Self.touchesInnerEdge(mapped, region: region, width: image.width, height: image.height) { continue }
                found.append(mapped)
            }
        }
        return FaceDecoding.weightedSuppression(found).map { face in
            func clamp(_ value: Double) -> Double { min(max(value, 0), 1) }
            let (left, top) = (clamp(face.xMin), clamp(face.yMin))
            return DetectedFace(
                box: BoundingBox(left: left, top: top, width: clamp(face.xMax) - left, height: clamp(face.yMax) - top),
                confidence: (face.score * 1000).rounded() / 10,
                keypoints: zip(descriptor.keypoints, face.keypoints).map { FaceKeypoint(type: $0, x: clamp($1.x), y: clamp($1.y)) })
        }
    }

    /// Whether a box (0-1 of the image) reaches within 1% of a tile edge that is not the image's.
    static func touchesInnerEdge(_ face: FaceCandidate, region: PixelRegion, width: Int, height: Int) -> Bool {
        let (w, h) = (Double(width), Double(height))
        let margin = 0.01
        let left = Double(region.x) / w
        let top = Double(region.y) / h
        let right = Double(region.x + region.width) / w
        let bottom = Double(region.y + region.height) / h
        return (region.x > 0 && face.xMin < left + margin) || (region.x + region.width < width && face.xMax > right - margin)
            || (region.y > 0 && face.yMin < top + margin) || (region.y + region.height < height && face.yMax > bottom - margin)
    }
}

/// Faces as an analyzer: the detector on the whole upright image (and its tiles); a "person"
/// label joins the labels section when any face is found (see `ImageAnalysis`).
public struct FaceAnalyzer: ImageAnalyzer {
    public let detector: FaceDetector
    public let minConfidence: Double
    public let limits: ImageLimits

    public init(detector: FaceDetector, minConfidence: Double = 50, limits: ImageLimits = .default) {
        self.detector = detector
        self.minConfidence = minConfidence
        self.limits = limits
    }

    public var feature: AnalysisFeature { .faces }
    public var model: ModelInfo { detector.model }

    public func analyze(_ images: [AnalysisImage]) -> [Result<AnalyzerOutput, any Error>] {
        images.map { image in
            Result {
                try image.analyzedFitted(limits: limits) { fitted in
                    .faces(FacesSection(model: detector.model, faces: try detector.detect(in: fitted, minConfidence: minConfidence)))
                }
            }
        }
    }
}
