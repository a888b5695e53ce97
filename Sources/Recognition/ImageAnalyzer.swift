import Foundation
import Imaging
import PipelineModel

/// One analyzer's result for one image, with the time it took.
public struct AnalyzerOutput: Sendable {
    public var section: AnalysisSection
    /// Milliseconds preparing this image's input (decode, resize, crop).
    public var decodeMs: Double
    /// Milliseconds of model time, shared by every image of a batch.
    public var inferenceMs: Double

    public init(section: AnalysisSection, decodeMs: Double, inferenceMs: Double) {
        self.section = section
        self.decodeMs = decodeMs
        self.inferenceMs = inferenceMs
    }
}

/// An analysis the recognizer runs on each image: one image in, one typed section of results
/// out. The recognizer reads each image once and hands the same `AnalysisImage`s to every
/// configured analyzer; image properties, faces, text and moderation are each one more analyzer.
///
/// Analyzers take a batch, so that those running a network can run one inference for it.
/// Implementations must be thread-safe and must fail only the images they cannot analyze.
public protocol ImageAnalyzer: Sendable {
    /// The section this analyzer fills.
    var feature: AnalysisFeature { get }
    /// The model (or method) and its version, for logs.
    var model: ModelInfo { get }
    /// One result per image, in order.
    func analyze(_ images: [AnalysisImage]) -> [Result<AnalyzerOutput, any Error>]
}

extension AnalysisImage {
    /// `analysis` of the whole upright image fitted for the detectors (one decode shared by faces and
    /// text), timed: the decode (or the wait for it) and the analysis apart.
    func analyzedFitted(limits: ImageLimits, _ analysis: (FittedImage) throws -> AnalysisSection) throws -> AnalyzerOutput {
        let started = ContinuousClock.now
        let fitted = try fitted(maxSide: FaceDetector.fittedSide, limits: limits)
        let decoded = ContinuousClock.now
        let section = try analysis(fitted)
        return AnalyzerOutput(
            section: section, decodeMs: (decoded - started).inMilliseconds, inferenceMs: (ContinuousClock.now - decoded).inMilliseconds)
    }
}

/// The classifier as an analyzer: the labels section.
public struct LabelAnalyzer: ImageAnalyzer {
    public let classifier: Classifier
    public let options: LabelOptions

    public init(classifier: Classifier, options: LabelOptions) {
        self.classifier = classifier
        self.options = options
    }

    public var feature: AnalysisFeature { .labels }
    public var model: ModelInfo { ModelInfo(name: classifier.name, version: classifier.version) }

    public func analyze(_ images: [AnalysisImage]) -> [Result<AnalyzerOutput, any Error>] {
        let model = self.model
        return classifier.classify(images: images, options: options).map { result in
            result.map { classification in
                AnalyzerOutput(
                    section: .labels(LabelsSection(model: model, labels: classification.labels, categories: classification.categories)),
                    decodeMs: classification.decodeMs, inferenceMs: classification.inferenceMs)
            }
        }
    }
}

/// Image properties as an analyzer: brightness, contrast, sharpness and dominant colours,
/// measured on the preparation the classifier already made (same preprocessor: no second decode;
/// the properties describe the centre crop the classifier sees).
public struct ImagePropertiesAnalyzer: ImageAnalyzer {
    public let preprocessor: Preprocessor

    public init(preprocessor: Preprocessor) { self.preprocessor = preprocessor }

    public var feature: AnalysisFeature { .properties }
    public var model: ModelInfo { ModelInfo(name: "image-properties", version: "1") }

    public func analyze(_ images: [AnalysisImage]) -> [Result<AnalyzerOutput, any Error>] {
        let spec = preprocessor.spec
        return images.map { image in
            Result {
                let started = ContinuousClock.now
                let pixels = try image.pixels(with: preprocessor)
                let properties = ImagePropertiesMeasure.measure(pixels, width: spec.width, height: spec.height)
                return AnalyzerOutput(
                    section: .properties(properties), decodeMs: 0, inferenceMs: (ContinuousClock.now - started).inMilliseconds)
            }
        }
    }
}

/// Fingerprints for near-duplicates and "more like this": a perceptual hash of the classifier's
/// preparation of the image (no second decode) and the classifier's pooled features as a compact
/// embedding, taken from the inference the label analyzer already ran when it ran first.
public struct SimilarityAnalyzer: ImageAnalyzer {
    public let classifier: Classifier

    public init(classifier: Classifier) { self.classifier = classifier }

    public var feature: AnalysisFeature { .similarity }
    public var model: ModelInfo { ModelInfo(name: "similarity", version: "phash-dct-mirror-v1") }

    /// What `embeddingModel` says: the features' model and the projection.
    public var embeddingModel: String {
        classifier.featureCount == 0 ? "" : "\(classifier.name) \(classifier.version) \(FeatureEmbedding.version)"
    }

    public func analyze(_ images: [AnalysisImage]) -> [Result<AnalyzerOutput, any Error>] {
        let spec = classifier.preprocessor.spec
        let started = ContinuousClock.now
        let pixels = images.map { image in Result { try image.pixels(with: classifier.preprocessor) } }
        // Features the label analyzer left on the images; one inference for the rest.
        var features = images.map { $0.kept(classifier.featureKey, as: [Float].self) }
        var inferenceError: (any Error)?
        let missing = images.indices.filter { features[$0] == nil && classifier.featureCount > 0 && (try? pixels[$0].get()) != nil }
        if !missing.isEmpty {
            do {
                let computed = try classifier.infer(missing.map { try pixels[$0].get() }).features
                for (index, vector) in zip(missing, computed) { features[index] = vector }
            } catch {
                inferenceError = error
            }
        }
        let perImage = (ContinuousClock.now - started).inMilliseconds / Double(max(1, images.count))
        return images.indices.map { index in
            Result {
                let rgb = try pixels[index].get()
                if let inferenceError, missing.contains(index) { throw inferenceError }
                let hash = PerceptualHash.hash(rgb: rgb, width: spec.width, height: spec.height)
                let embedding = features[index].map { Data(FeatureEmbedding.embed($0).map { UInt8(bitPattern: $0) }).base64EncodedString() }
                return AnalyzerOutput(
                    section: .similarity(
                        SimilaritySection(
                            perceptualHash: PerceptualHash.hex(hash), embedding: embedding ?? "",
                            embeddingModel: embedding == nil ? "" : embeddingModel)),
                    decodeMs: 0, inferenceMs: perImage)
            }
        }
    }
}
