import Foundation
import Imaging
import Inference
import Logging
import PipelineModel

/// One label of one image (name, confidence 0-100, parent labels): the message schema's type,
/// so that labels flow from the classifier into messages and the database unchanged.
public typealias RecognizedLabel = DetectedLabel

/// Which labels to report: at most `maxLabels`, none below `minConfidence` (0-100), only those
/// the filter keeps.
public struct LabelOptions: Sendable, Equatable {
    public var maxLabels: Int
    public var minConfidence: Double
    public var filter: LabelFilter
    public init(maxLabels: Int = 5, minConfidence: Double = 5, filter: LabelFilter = LabelFilter()) {
        self.maxLabels = maxLabels
        self.minConfidence = minConfidence
        self.filter = filter
    }
}

/// A pretrained image classifier: libvips preprocessing, XNNPACK inference and the labels.
///
/// Thread-safe: preprocessing runs concurrently; inference is serialised per classifier,
/// because one inference already uses every thread it was given.
public final class Classifier: @unchecked Sendable {
    /// Model name and version, as recorded with every label.
    public let name: String
    public let version: String
    /// Class names in output order.
    public let classNames: [String]
    /// Parent labels per class.
    public let taxonomy: LabelTaxonomy
    /// Every reportable label and the classes it covers.
    public let hierarchy: LabelHierarchy
    /// The label each class is reported as (its taxonomy label, else its class name).
    public var classLabels: [String] {
        classNames.enumerated().map { index, name in index < taxonomy.classes.count ? taxonomy.classes[index].label ?? name : name }
    }
    /// How images are prepared for this model.
    public let preprocessor: Preprocessor

    private let model: ONNXModel
    /// The value holding the pooled features (the last layer's input), when the graph has one.
    private let featureValue: String?
    /// Floats in one image's pooled features; 0 when the model exposes none.
    public let featureCount: Int
    private let logger: Logger
    private let threads: Int
    private let inputPixels: Int
    private let lock = NSLock()
    private var sessions: [Int: InferenceSession] = [:]

    /// Loads the model a descriptor names, its fp32 or INT8 file as `precision` picks.
    public convenience init(
        descriptorURL: URL, threads: Int, precision: ModelPrecision = .auto, limits: ImageLimits = .default,
        logger: Logger = Logger(label: "recognition")
    ) throws {
        let (descriptor, directory) = try ModelDescriptor.load(from: descriptorURL)
        let (file, version) = try precision.choose(for: descriptor, at: descriptorURL.path)
        let onnxURL = directory.appendingPathComponent(file)
        let classesURL = directory.appendingPathComponent(descriptor.classes)
        let taxonomyURL = descriptor.taxonomy.map { directory.appendingPathComponent($0) }
        try self.init(
            onnxURL: onnxURL, classNamesURL: classesURL, taxonomyURL: taxonomyURL,
            name: descriptor.name, version: version, input: descriptor.input,
            threads: threads, limits: limits, logger: logger)
    }

    /// Loads a user's own ONNX classifier with its class names (and optionally a taxonomy).
    public init(
        onnxURL: URL, classNamesURL: URL, taxonomyURL: URL?, name: String?, version: String?,
        input: ModelDescriptor.Input?, threads: Int, limits: ImageLimits = .default,
        logger: Logger = Logger(label: "recognition")
    ) throws {
        let model = try ONNXModel(contentsOf: onnxURL)
        let names = try Self.readClassNames(classNamesURL)
        // Tap the pooled features for the similarity analyzer; a graph where that fails still classifies.
        var featureValue = model.penultimateValue
        var probe: InferenceSession
        do {
            probe = try InferenceSession(model: model, batchSize: 1, threads: threads, tap: featureValue, logger: logger)
        } catch  where featureValue != nil {
            logger.notice("cannot read pooled features of this model; similarity embeddings are off", metadata: ["error": "\(error)"])
            featureValue = nil
            probe = try InferenceSession(model: model, batchSize: 1, threads: threads, logger: logger)
        }
        let shape = probe.inputShape
        guard shape.count == 4, shape[1] == 3, shape[2] > 0, shape[3] > 0 else {
            throw RecognitionError.unsupportedInputShape(shape)
        }
        guard probe.outputCount == names.count else {
            throw RecognitionError.classCountMismatch(model: probe.outputCount, names: names.count, namesPath: classNamesURL.path)
        }
        let metadata = model.metadata
        let resolvedInput = input ?? Self.defaultInput(height: shape[2], width: shape[3], metadata: metadata)

        self.model = model
        self.featureValue = featureValue
        self.featureCount = probe.tapCount
        self.logger = logger
        self.threads = threads
        self.classNames = names
        self.name = name ?? metadata["model_name"] ?? onnxURL.deletingPathExtension().lastPathComponent
        self.version = version ?? metadata["model_version"] ?? "unversioned"
        self.taxonomy =
            try taxonomyURL.map { try LabelTaxonomy.load(from: $0, classCount: names.count) }
            ?? .flat(classCount: names.count)
        self.hierarchy = LabelHierarchy(classNames: names, taxonomy: taxonomy)
        self.preprocessor = Preprocessor(
            spec: PreprocessSpec(
                width: resolvedInput.width, height: resolvedInput.height, resize: resolvedInput.resize,
                mean: resolvedInput.mean, std: resolvedInput.std),
            limits: limits)
        self.inputPixels = resolvedInput.width * resolvedInput.height * 3
        self.sessions[1] = probe
    }

    /// Runs the model on already preprocessed images (HWC RGB uint8 each) and returns one
    /// probability vector per image.
    public func probabilities(for batch: [[UInt8]]) throws -> [[Float]] {
        try infer(batch).probabilities
    }

    /// Runs the model once for the batch: per image the class probabilities and the pooled
    /// features (empty when `featureCount` is 0).
    public func infer(_ batch: [[UInt8]]) throws -> (probabilities: [[Float]], features: [[Float]]) {
        guard !batch.isEmpty else { return ([], []) }
        // Runs in power-of-two chunks of at most 4 (7 is 4 + 2 + 1): a few sessions, made ahead by
        // `prepare(maxBatchSize:)`, cover every batch size; each session holds its own buffers, into which
        // the images are normalized.
        var logits: [Float] = []
        var pooled: [Float] = []
        logits.reserveCapacity(batch.count * classNames.count)
        try lock.withLock {
            var offset = 0
            for size in Self.chunkSizes(batch.count) {
                let session = try session(batchSize: size)
                let (output, tap) = try session.runReadingTap { buffer in
                    for index in 0..<size {
                        let slice = UnsafeMutableBufferPointer(rebasing: buffer[(index * inputPixels)..<((index + 1) * inputPixels)])
                        preprocessor.normalize(batch[offset + index], into: slice)
                    }
                }
                logits += output
                pooled += tap
                offset += size
            }
        }
        let classes = classNames.count
        let probabilities = (0..<batch.count).map { index in
            Self.softmax(logits[(index * classes)..<((index + 1) * classes)])
        }
        let width = featureCount
        let features = (0..<batch.count).map { index in width == 0 ? [] : Array(pooled[(index * width)..<((index + 1) * width)]) }
        return (probabilities, features)
    }

    /// The key under which `classify(images:)` keeps each image's pooled features on its `AnalysisImage`.
    public var featureKey: String { "features:\(name):\(version)" }

    /// The key under which `classify(images:)` keeps each image's class probabilities (the
    /// moderation analyzer reads weapons, swimwear and drinks from them).
    public var probabilitiesKey: String { "probabilities:\(name):\(version)" }

    /// The labels of one probability vector: classes and their parent labels, each parent as
    /// confident as the classes below it together (`LabelHierarchy`).
    public func labels(from probabilities: [Float], options: LabelOptions) -> [RecognizedLabel] {
        hierarchy.labels(from: probabilities, options: options)
    }

    /// Builds the inference sessions that batches of up to `maxBatchSize` images will use, so
    /// that the first batch of a new size does not pay for building one (~100-200 ms).
    public func prepare(maxBatchSize: Int) throws {
        var size = 1
        try lock.withLock {
            while size <= min(max(1, maxBatchSize), Self.largestChunk) {
                _ = try session(batchSize: size)
                size *= 2
            }
        }
    }

    /// Starts (clearing earlier samples) or stops timing each inference step in every session.
    public func setProfiling(_ enabled: Bool) {
        lock.withLock { for session in sessions.values { session.setProfiling(enabled) } }
    }

    /// Per-step median times of each session that ran since profiling started, by its batch size.
    public func stepProfiles() -> [(batchSize: Int, steps: [StepTiming])] {
        lock.withLock {
            sessions.keys.sorted().compactMap { size in
                guard let steps = sessions[size]?.stepProfile(), steps.contains(where: { $0.runs > 0 }) else { return nil }
                return (size, steps)
            }
        }
    }

    /// The largest batch one inference session runs. Larger batches run in chunks of it: with 224x224
    /// inputs, 8 images' 112x112 activations outgrow the caches and time per image rises 7-10% over
    /// batches of 2-4 (`recognize bench --batch-sizes 1,2,4,8`).
    static let largestChunk = 4

    /// Powers of two (at most `largestChunk`) adding up to `count`, largest first.
    static func chunkSizes(_ count: Int) -> [Int] {
        var sizes: [Int] = []
        var remaining = count
        while remaining > 0 {
            var size = 1
            while size * 2 <= min(remaining, largestChunk) { size *= 2 }
            sizes.append(size)
            remaining -= size
        }
        return sizes
    }

    /// The number of threads inference uses.
    public var threadCount: Int { threads }

    private func session(batchSize: Int) throws -> InferenceSession {
        if let session = sessions[batchSize] { return session }
        let session = try InferenceSession(model: model, batchSize: batchSize, threads: threads, tap: featureValue, logger: logger)
        sessions[batchSize] = session
        return session
    }

    /// Softmax, unless the model already outputs a probability distribution.
    static func softmax(_ logits: ArraySlice<Float>) -> [Float] {
        let sum = logits.reduce(0, +)
        if logits.allSatisfy({ $0 >= 0 && $0 <= 1 }) && abs(sum - 1) < 1e-3 { return Array(logits) }
        let maximum = logits.max() ?? 0
        let exps = logits.map { expf($0 - maximum) }
        let total = exps.reduce(0, +)
        return exps.map { $0 / total }
    }

    static func readClassNames(_ url: URL) throws -> [String] {
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw RecognitionError.invalidClassNames(path: url.path, detail: "\(error)")
        }
        let names = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        guard !names.isEmpty else { throw RecognitionError.invalidClassNames(path: url.path, detail: "no names in it") }
        return names
    }

    /// Input settings for an ONNX file without a descriptor: the common ImageNet recipe
    /// (resize to 256/224 of the input, centre crop, ImageNet mean/std) unless the file's
    /// metadata names its own `mean`/`std` (comma-separated, on 0-255).
    static func defaultInput(height: Int, width: Int, metadata: [String: String]) -> ModelDescriptor.Input {
        func floats(_ key: String) -> [Float]? {
            guard let text = metadata[key] else { return nil }
            let values = text.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "[" || $0 == "]" })
                .compactMap { Float($0) }
            return values.count == 3 ? values : nil
        }
        return ModelDescriptor.Input(
            width: width, height: height,
            resize: metadata["resize"].flatMap { Int($0) } ?? Int((Double(min(width, height)) / 0.875).rounded()), layout: "NCHW",
            mean: floats("mean") ?? [123.675, 116.28, 103.53], std: floats("std") ?? [58.395, 57.12, 57.375])
    }
}
