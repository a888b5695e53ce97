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
