import ArgumentParser
import CLISupport
import Foundation
import Recognition

/// `recognize`: the labelling worker, plus direct classification of files.
@main
struct Recognize: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recognize",
        abstract: "Label images with a local pretrained classifier.",
        discussion: """
            Without a subcommand, runs the worker: takes image.stored messages from the recognize \
            queue, labels each image, stores the labels in SQLite and publishes image.labeled.
            `recognize classify PHOTO...` labels files directly, without the pipeline.
            """,
        subcommands: [RunWorker.self, Classify.self, Bench.self],
        defaultSubcommand: RunWorker.self)
}

/// Options that pick and tune the classifier, shared by every subcommand.
struct ModelOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Model descriptor JSON (see Models/efficientnet-lite0.json) or an ONNX file.",
        discussion: "An ONNX file also needs --classes. Default: the bundled EfficientNet-Lite0.",
        valueName: "path"))
    var model: String?

    @Option(help: ArgumentHelp("Class names file (one per line, output order) for an ONNX --model.", valueName: "path"))
    var classes: String?

    @Option(help: ArgumentHelp("Taxonomy JSON giving parent labels per class, for an ONNX --model.", valueName: "path"))
    var taxonomy: String?

    @Option(help: "Inference threads (default: all cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Refuse images with more pixels than this (decompression bombs).")
    var maxPixels: Int = 100_000_000

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        if let model, model.hasSuffix(".onnx"), classes == nil {
            throw ValidationError("--model \(model) is an ONNX file: also pass --classes with its class names")
        }
    }

    /// Loads the classifier these options describe.
    func loadClassifier() throws -> Classifier {
        let limits = ImageLimitsFactory.make(maxPixels: maxPixels)
        if let model, model.hasSuffix(".onnx"), let classes {
            return try Classifier(onnxURL: URL(fileURLWithPath: model), classNamesURL: URL(fileURLWithPath: classes),
                                  taxonomyURL: taxonomy.map { URL(fileURLWithPath: $0) }, name: nil, version: nil,
                                  input: nil, threads: threads, limits: limits)
        }
        let descriptor = try model.map { URL(fileURLWithPath: $0) } ?? ModelLocator.defaultModel()
        return try Classifier(descriptorURL: descriptor, threads: threads, limits: limits)
    }
}

/// Which labels to report.
struct LabelFilterOptions: ParsableArguments {
    @Option(help: "Report at most this many labels per image.")
    var maxLabels: Int = 5

    @Option(help: "Drop labels below this confidence (0-100).")
    var minConfidence: Double = 5

    func validate() throws {
        guard maxLabels >= 1 else { throw ValidationError("--max-labels must be at least 1") }
        guard (0...100).contains(minConfidence) else { throw ValidationError("--min-confidence must be between 0 and 100") }
    }

    var labelOptions: LabelOptions { LabelOptions(maxLabels: maxLabels, minConfidence: minConfidence) }
}
