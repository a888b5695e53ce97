import Foundation
import Imaging
import Inference
import Logging
import PipelineModel

/// What the moderation model's descriptor (Models/open-nsfw.json) says.
public struct ModerationModelDescriptor: Decodable, Sendable {
    public struct Input: Decodable, Sendable {
        public var width: Int
        public var height: Int
        /// Subtracted from the B, G, R bytes.
        public var mean: [Float]
    }
    public var name: String
    public var version: String
    public var onnx: String
    /// The INT8 (QDQ) version of `onnx`, when there is one (Scripts/quantize_model.py).
    public var int8: String?
    public var input: Input
}

/// Yahoo's open_nsfw on the project's engine: one "not safe for work" probability per image.
///
/// It reads the classifier's own preparation of the image (the centre 224 of the 256
/// thumbnail, same geometry as EfficientNet-Lite0, so no second decode), reordered to BGR minus
/// the training mean. The reference squashes the whole image to 256x256 and re-encodes it as
/// JPEG first; on the bundled samples the two preparations' scores differ by at most 0.015
/// (Scripts/convert-model prints both), and a crop can miss content at the image's edges.
public final class ModerationModel: @unchecked Sendable {
    public let descriptor: ModerationModelDescriptor
    /// What is reported with the scores: the descriptor's name and the version of the file run ("-int8").
    public let model: ModelInfo
    public let preprocessor: Preprocessor
    private let session: InferenceSession
    private let lock = NSLock()

    public static let defaultDescriptor = "open-nsfw.json"

    /// Loads the model a descriptor names, its fp32 or INT8 file as `precision` picks.
    public init(
        descriptorURL: URL, threads: Int, precision: ModelPrecision = .auto, limits: ImageLimits = .default,
        logger: Logger = Logger(label: "moderation")
    ) throws {
        let descriptor: ModerationModelDescriptor
        do {
            descriptor = try JSONDecoder().decode(ModerationModelDescriptor.self, from: Data(contentsOf: descriptorURL))
        } catch {
            throw RecognitionError.invalidDescriptor(path: descriptorURL.path, detail: "\(error)")
        }
        guard descriptor.input.mean.count == 3 else {
            throw RecognitionError.invalidDescriptor(path: descriptorURL.path, detail: "input.mean needs 3 values (B, G, R)")
        }
        let (file, version) = try precision.choose(
            name: descriptor.name, version: descriptor.version, onnx: descriptor.onnx, int8: descriptor.int8, at: descriptorURL.path)
        let model = try ONNXModel(contentsOf: descriptorURL.deletingLastPathComponent().appendingPathComponent(file))
        self.model = ModelInfo(name: descriptor.name, version: version)
        session = try InferenceSession(model: model, batchSize: 1, threads: threads, logger: logger)
        guard session.inputShape == [1, 3, descriptor.input.height, descriptor.input.width], session.outputCount == 2 else {
            throw RecognitionError.unsupportedInputShape(session.inputShape)
        }
        self.descriptor = descriptor
        // The 256 thumbnail's centre 224, as the classifier prepares it; the normalisation is
        // applied here (BGR order), so the spec's own mean/std are unused.
        preprocessor = Preprocessor(spec: PreprocessSpec(width: descriptor.input.width, height: descriptor.input.height), limits: limits)
    }

    /// The bundled open_nsfw.
    public convenience init(
        threads: Int, precision: ModelPrecision = .auto, limits: ImageLimits = .default, logger: Logger = Logger(label: "moderation")
    ) throws {
        try self.init(
            descriptorURL: ModelLocator.bundledModel(descriptor: Self.defaultDescriptor, environment: ProcessInfo.processInfo.environment),
            threads: threads, precision: precision, limits: limits, logger: logger)
    }

    /// open_nsfw's input from RGB bytes (HWC): BGR order, minus the per-channel mean (B, G, R).
    public static func networkInput(rgb: [UInt8], meanBGR mean: [Float]) -> [Float] {
        var input = [Float](repeating: 0, count: rgb.count)
        for pixel in 0..<(rgb.count / 3) {
            for channel in 0..<3 { input[pixel * 3 + channel] = Float(rgb[pixel * 3 + 2 - channel]) - mean[channel] }
        }
        return input
    }

    /// The probability (0-1) that the prepared image (RGB bytes from `preprocessor`) is not safe
    /// for work.
    public func nsfwProbability(rgb: [UInt8]) throws -> Double {
        let input = Self.networkInput(rgb: rgb, meanBGR: descriptor.input.mean)
        let scores = try lock.withLock { try input.withUnsafeBufferPointer { try session.run(nhwc: $0) } }
        return Double(scores[1])
    }
}

/// How moderation labels in the cloud service's taxonomy are made, and where that is weak.
///
/// - "Explicit" (level 1) is open_nsfw's probability. The model was trained on pornographic vs
///   other images: it cannot tell nudity from sexual activity (so no level-2 label is claimed),
///   it scores some art, medical and beach photos high, and it knows nothing of violence.
/// - "Violence" > "Weapons", "Swimwear or Underwear" > "Female/Male Swimwear or Underwear" and
///   "Alcohol" > "Alcoholic Beverages" are the summed probabilities of the ImageNet classes
///   below, from the classifier's inference (reported only when the labels analysis ran first).
///   They are as good as the classifier on those classes: it knows guns and swimwear, not
///   knives in hands or drinks in glasses, and a level-1 label is the sum of its level-2 ones.
public enum ModerationTaxonomy {
    /// A label computed from classifier classes.
    public struct ClassRule: Sendable {
        public var name: String
        public var parentName: String
        /// ImageNet class names (Models/imagenet-classes.txt).
        public var classes: [String]
    }

    public static let explicit = "Explicit"

    /// Level-2 labels from classes; their parents are level 1 with the sum of their children.
    public static let classRules: [ClassRule] = [
        ClassRule(name: "Weapons", parentName: "Violence", classes: ["assault rifle", "revolver", "rifle", "cannon"]),
        ClassRule(
            name: "Female Swimwear or Underwear", parentName: "Swimwear or Underwear", classes: ["bikini", "maillot", "tank suit", "brassiere"]),
        ClassRule(name: "Male Swimwear or Underwear", parentName: "Swimwear or Underwear", classes: ["swimming trunks"]),
        ClassRule(name: "Alcoholic Beverages", parentName: "Alcohol", classes: ["beer bottle", "wine bottle", "red wine", "beer glass"]),
    ]

    /// Every label, level 1 and 2, with its confidence (0-100), most confident first: `nsfw` is
    /// open_nsfw's probability; `probabilities` the classifier's (nil when labels did not run).
    public static func labels(nsfw: Double, probabilities: [Float]?, classNames: [String]) -> [ModerationLabel] {
        labels(nsfw: nsfw, probabilities: probabilities?.count == classNames.count ? probabilities : nil, ruleClasses: ruleClasses(in: classNames))
    }

    /// Each class rule's class indices in `classNames` (looked up once per classifier, not per image).
    public static func ruleClasses(in classNames: [String]) -> [[Int]] {
        classRules.map { rule in rule.classes.compactMap { classNames.firstIndex(of: $0) } }
    }

    /// `labels(nsfw:probabilities:classNames:)` with the rules' class indices already looked up.
    public static func labels(nsfw: Double, probabilities: [Float]?, ruleClasses: [[Int]]) -> [ModerationLabel] {
        var labels = [ModerationLabel(name: explicit, parentName: "", taxonomyLevel: 1, confidence: percent(nsfw))]
        if let probabilities {
            var parents: [(name: String, sum: Double)] = []
            for (rule, classes) in zip(classRules, ruleClasses) {
                let sum = classes.filter { $0 < probabilities.count }.reduce(0.0) { $0 + Double(probabilities[$1]) }
                labels.append(ModerationLabel(name: rule.name, parentName: rule.parentName, taxonomyLevel: 2, confidence: percent(sum)))
                if let index = parents.firstIndex(where: { $0.name == rule.parentName }) {
                    parents[index].sum += sum
                } else {
                    parents.append((rule.parentName, sum))
                }
            }
            labels += parents.map { ModerationLabel(name: $0.name, parentName: "", taxonomyLevel: 1, confidence: percent($0.sum)) }
        }
        // Level 1 before level 2 at equal confidence: a parent is listed before its children.
        return labels.sorted { ($0.confidence, -$0.taxonomyLevel) > ($1.confidence, -$1.taxonomyLevel) }
    }

    static func percent(_ probability: Double) -> Double { (min(max(probability, 0), 1) * 1000).rounded() / 10 }
}

/// Moderation as an analyzer: open_nsfw's score and the classifier-derived labels, those at or
/// above `minConfidence` reported; the image is unsafe when any is.
public struct ModerationAnalyzer: ImageAnalyzer {
    public let network: ModerationModel
    public let minConfidence: Double
    /// The classifier whose probabilities (kept by the label analyzer) give the class-based labels.
    public let classifier: Classifier?
    private let ruleClasses: [[Int]]

    public init(network: ModerationModel, minConfidence: Double = 50, classifier: Classifier? = nil) {
        self.network = network
        self.minConfidence = minConfidence
        self.classifier = classifier
        ruleClasses = ModerationTaxonomy.ruleClasses(in: classifier?.classNames ?? [])
    }

    public var feature: AnalysisFeature { .moderation }
    public var model: ModelInfo { network.model }

    public func analyze(_ images: [AnalysisImage]) -> [Result<AnalyzerOutput, any Error>] {
        images.map { image in
            Result {
                let started = ContinuousClock.now
                let rgb = try image.pixels(with: network.preprocessor)
                let prepared = ContinuousClock.now
                let nsfw = try network.nsfwProbability(rgb: rgb)
                let probabilities = classifier.flatMap { image.kept($0.probabilitiesKey, as: [Float].self) }
                let labels = ModerationTaxonomy.labels(nsfw: nsfw, probabilities: probabilities, ruleClasses: ruleClasses)
                return AnalyzerOutput(
                    section: .moderation(
                        ModerationSection(
                            model: network.model, labels: labels.filter { $0.confidence >= minConfidence }, minConfidence: minConfidence,
                            nsfwScore: ModerationTaxonomy.percent(nsfw))),
                    decodeMs: (prepared - started).inMilliseconds, inferenceMs: (ContinuousClock.now - prepared).inMilliseconds)
            }
        }
    }
}
