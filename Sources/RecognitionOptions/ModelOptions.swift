import ArgumentParser
import Foundation
import Imaging
import Logging
import PipelineModel
import Recognition

/// Options that pick and tune the classifier, shared by every subcommand.
public struct ModelOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "A bundled model (lite0, lite2), a model descriptor JSON (see Models/efficientnet-lite0.json) or an ONNX file.",
            discussion:
                "lite0: EfficientNet-Lite0, 224x224, the default and fastest; lite2: EfficientNet-Lite2, 260x260, more accurate, about 2.5x the time per image. An ONNX file also needs --classes.",
            valueName: "name|path"))
    public var model: String?

    @Option(help: ArgumentHelp("Class names file (one per line, output order) for an ONNX --model.", valueName: "path"))
    public var classes: String?

    @Option(help: ArgumentHelp("Taxonomy JSON giving parent labels per class, for an ONNX --model.", valueName: "path"))
    public var taxonomy: String?

    @Option(
        help: ArgumentHelp(
            "Run the models' fp32 or INT8 files: auto, int8 or fp32.",
            discussion:
                "Applies to the classifier and the moderation model. auto (the default) picks INT8 where it is the faster here (CPUs with AVX-512 VNNI: about half fp32's time, the same labels) and the model has an INT8 file (Models/efficientnet-lite0-int8.onnx, Models/open-nsfw-int8.onnx); fp32 elsewhere; int8 is an error for a model without one. Labels record the version run (\"-int8\" appended). An ONNX --model runs as given: a QDQ file on the INT8 kernels.",
            valueName: "precision"))
    public var precision: ModelPrecision = .auto

    @Option(help: "Inference threads (default: all cores).")
    public var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Refuse images with more pixels than this (decompression bombs).")
    public var maxPixels: Int = 100_000_000

    public init() {}

    public func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        if let model, model.hasSuffix(".onnx"), classes == nil {
            throw ValidationError("--model \(model) is an ONNX file: also pass --classes with its class names")
        }
    }

    /// Loads the classifier these options describe.
    public func loadClassifier(logger: Logger = Logger(label: "recognition")) throws -> Classifier {
        var limits = ImageLimits.default
        limits.maxPixels = maxPixels
        if let model, model.hasSuffix(".onnx"), let classes {
            return try Classifier(
                onnxURL: URL(fileURLWithPath: model), classNamesURL: URL(fileURLWithPath: classes),
                taxonomyURL: taxonomy.map { URL(fileURLWithPath: $0) }, name: nil, version: nil,
                input: nil, threads: threads, limits: limits, logger: logger)
        }
        let descriptor: URL
        if let model {
            descriptor = try ModelLocator.bundledModel(named: model) ?? URL(fileURLWithPath: model)
        } else {
            descriptor = try ModelLocator.defaultModel()
        }
        return try Classifier(descriptorURL: descriptor, threads: threads, precision: precision, limits: limits, logger: logger)
    }
}

/// Which labels to report.
public struct LabelFilterOptions: ParsableArguments {
    @Option(help: "Report at most this many labels per image.")
    public var maxLabels: Int = 5

    @Option(help: "Drop labels below this confidence (0-100).")
    public var minConfidence: Double = 5

    @Option(
        name: .customLong("include-label"),
        help: ArgumentHelp(
            "Report only this label and the labels below it (repeatable or comma-separated; names and aliases).",
            valueName: "label"))
    public var includeLabels: [String] = []

    @Option(
        name: .customLong("exclude-label"),
        help: ArgumentHelp("Never report this label or the labels below it (repeatable or comma-separated).", valueName: "label"))
    public var excludeLabels: [String] = []

    @Option(
        name: .customLong("include-category"),
        help: ArgumentHelp(
            "Report only labels of this category (repeatable or comma-separated category ids, e.g. animals, vehicles).",
            discussion: "`recognize labels --categories` lists the ids.", valueName: "id"))
    public var includeCategories: [String] = []

    @Option(
        name: .customLong("exclude-category"),
        help: ArgumentHelp("Never report labels that belong only to this category (repeatable or comma-separated).", valueName: "id"))
    public var excludeCategories: [String] = []

    public init() {}

    public func validate() throws {
        guard maxLabels >= 1 else { throw ValidationError("--max-labels must be at least 1") }
        guard (0...100).contains(minConfidence) else { throw ValidationError("--min-confidence must be between 0 and 100") }
    }

    /// The options as the classifier takes them.
    public var labelOptions: LabelOptions {
        LabelOptions(
            maxLabels: maxLabels, minConfidence: minConfidence,
            filter: LabelFilter(
                includeLabels: Self.split(includeLabels), excludeLabels: Self.split(excludeLabels),
                includeCategories: Self.split(includeCategories), excludeCategories: Self.split(excludeCategories)))
    }

    /// The label options, after checking that every category named exists in the classifier's
    /// taxonomy and every label named is one it can report (a typo would silently drop everything).
    public func labelOptions(for classifier: Classifier) throws -> LabelOptions {
        let known = classifier.hierarchy.categories.map(\.id)
        for id in Self.split(includeCategories) + Self.split(excludeCategories) where !known.contains(id.lowercased()) {
            let choices = known.isEmpty ? "this model has no categories" : "choose from \(known.joined(separator: ", "))"
            throw Self.usageError("unknown category '\(id)'; \(choices)")
        }
        for name in Self.split(includeLabels) + Self.split(excludeLabels) where classifier.hierarchy.term(named: name) == nil {
            throw Self.usageError("'\(name)' is no label or alias of \(classifier.name); `recognize labels` lists them")
        }
        return labelOptions
    }

    /// A usage error found after parsing (it needs the loaded model): the message alone, exit status 64.
    static func usageError(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
        return ExitCode.validationFailure
    }

    static func split(_ values: [String]) -> [String] {
        values.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}

/// `--features`: which analyzers run on every image (the service's Features parameter).
public struct FeatureOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Comma-separated analyses to run: \(AnalysisFeature.allCases.map(\.rawValue).joined(separator: ", ")).",
            discussion:
                "Default: all but text; `all` names every one. properties (brightness, contrast, sharpness, dominant colours) costs under a millisecond per image; similarity (perceptual hash and feature embedding for list-images duplicates/similar) reuses the labels' inference; faces runs BlazeFace (full range) on the whole image and on overlapping tiles of it; moderation runs open_nsfw on the classifier's crop and reads weapons, swimwear and drinks from the labels' inference; text runs PP-OCRv5's detector on the image (at most 960 pixels a side) and reads each line it finds (the costliest: about 60-150 ms an image on 2 cores, more with much text).",
            valueName: "list"))
    public var features: String = FeatureOptions.defaultFeatures.map(\.rawValue).joined(separator: ",")

    /// Every analysis but text: reading text (about 60-150 ms an image on 2 cores, the detector alone)
    /// would more than halve the pipeline's rate, so it is asked for (`--features all` or a list with text).
    public static let defaultFeatures: [AnalysisFeature] = AnalysisFeature.allCases.filter { $0 != .text }

    @Option(help: "Report faces from this confidence (0-100).")
    public var minFaceConfidence: Double = 50

    @Flag(
        inversion: .prefixedNo,
        help:
            "Search overlapping tiles of larger images for small faces, not only the whole image (5 detector runs instead of 1 on a 4:3 photo)."
    )
    public var faceTiles = true

    @Option(help: "Report moderation labels from this confidence (0-100); an image with any is unsafe.")
    public var minModerationConfidence: Double = 50

    @Option(help: "Keep at most this many words of text per image (default: all; the lines beyond are left out and the section says so).")
    public var maxWords: Int?

    public init() {}

    public func validate() throws {
        _ = try selected()
        guard (0...100).contains(minFaceConfidence) else { throw ValidationError("--min-face-confidence must be between 0 and 100") }
        guard (0...100).contains(minModerationConfidence) else {
            throw ValidationError("--min-moderation-confidence must be between 0 and 100")
        }
        if let maxWords, maxWords < 1 { throw ValidationError("--max-words must be at least 1") }
    }

    /// The features named, in the order given, each once.
    public func selected() throws -> [AnalysisFeature] {
        var result: [AnalysisFeature] = []
        for name in features.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) where !name.isEmpty {
            if name == "all" {
                for feature in AnalysisFeature.allCases where !result.contains(feature) { result.append(feature) }
                continue
            }
            guard let feature = AnalysisFeature(rawValue: name) else {
                throw ValidationError(
                    "--features: unknown analysis '\(name)'; choose from \(AnalysisFeature.allCases.map(\.rawValue).joined(separator: ", ")) or all")
            }
            if !result.contains(feature) { result.append(feature) }
        }
        guard !result.isEmpty else { throw ValidationError("--features: name at least one analysis") }
        return result
    }

    /// The analyzers of the selected features, the classifier's first (the others reuse its
    /// preparation of each image and its inference); faces, moderation and text load their models,
    /// with the classifier's thread count, the moderation model in `precision`.
    public func analyzers(
        classifier: Classifier, labels: LabelOptions, precision: ModelPrecision = .auto, logger: Logger = Logger(label: "recognition")
    ) throws -> [any ImageAnalyzer] {
        let threads = classifier.threadCount
        let wanted = try selected()
        let limits = classifier.preprocessor.limits
        var analyzers: [any ImageAnalyzer] = []
        if wanted.contains(.labels) { analyzers.append(LabelAnalyzer(classifier: classifier, options: labels)) }
        if wanted.contains(.properties) { analyzers.append(ImagePropertiesAnalyzer(preprocessor: classifier.preprocessor)) }
        if wanted.contains(.similarity) { analyzers.append(SimilarityAnalyzer(classifier: classifier)) }
        if wanted.contains(.faces) {
            let detector = try FaceDetector(threads: threads, tiles: faceTiles, logger: logger)
            analyzers.append(FaceAnalyzer(detector: detector, minConfidence: minFaceConfidence, limits: limits))
        }
        if wanted.contains(.moderation) {
            let network = try ModerationModel(threads: threads, precision: precision, limits: limits, logger: logger)
            analyzers.append(
                ModerationAnalyzer(
                    network: network, minConfidence: minModerationConfidence, classifier: wanted.contains(.labels) ? classifier : nil))
        }
        if wanted.contains(.text) {
            analyzers.append(TextAnalyzer(reader: try TextReader(threads: threads, logger: logger), maxWords: maxWords, limits: limits))
        }
        return analyzers
    }
}

extension ModelPrecision: ExpressibleByArgument {}
