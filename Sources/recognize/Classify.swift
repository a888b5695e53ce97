import ArgumentParser
import CLISupport
import Foundation
import Imaging
import PipelineModel
import Recognition
import RecognitionOptions

/// `recognize classify`: label image files directly, without queues or database.
struct Classify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Label image files directly and print the labels.",
        discussion:
            "With several files, a summary with the rate (model loading excluded) goes to stderr. Exit status 0 when every file was labelled, 1 when any could not be read or decoded."
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case table, json }

    @Argument(help: "Image files to label.")
    var photos: [String]

    @OptionGroup var model: ModelOptions
    @OptionGroup var filter: LabelFilterOptions
    @OptionGroup var features: FeatureOptions
    @OptionGroup var logging: LoggingOptions

    @Option(help: "Output format: table or json (one object per line).")
    var format: Format = .table

    @Option(help: "Images per inference batch.")
    var batchSize: Int = 8

    func validate() throws {
        guard !photos.isEmpty else { throw ValidationError("give at least one image file") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
    }

    func run() async throws {
        let logger = logging.bootstrap(label: "recognize")
        Vips.routeWarnings(to: logger)
        let classifier = try model.loadClassifier(logger: logger)
        try classifier.prepare(maxBatchSize: min(batchSize, photos.count))
        var failures = 0
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let analyzers = try features.analyzers(
            classifier: classifier, labels: try filter.labelOptions(for: classifier), precision: model.precision, logger: logger)
        let wantsLabels = try features.selected().contains(.labels)
        let started = ContinuousClock.now
        for start in stride(from: 0, to: photos.count, by: batchSize) {
            let chunk = Array(photos[start..<min(start + batchSize, photos.count)])
            let results = ImageAnalysis.run(chunk, with: analyzers, limits: classifier.preprocessor.limits)
            for (path, result) in zip(chunk, results) {
                switch result {
                case .success(let analysis):
                    let labels = analysis.sections.labels?.labels ?? []
                    switch format {
                    case .table:
                        print(path)
                        for label in labels {
                            let confidence = String(format: "%6.2f%%", label.confidence)
                            let parents = label.parents.isEmpty ? "" : "  (\(label.parents.joined(separator: ", ")))"
                            print("  \(confidence)  \(label.name)\(parents)")
                        }
                        if wantsLabels && labels.isEmpty { print("  no label above \(filter.minConfidence)%") }
                        if let categories = analysis.sections.labels?.categories, !categories.isEmpty {
                            print("  categories: " + categories.map { String(format: "%@ %.0f%%", $0.id, $0.confidence) }.joined(separator: ", "))
                        }
                        if let properties = analysis.sections.properties { print(Self.describe(properties)) }
                        if let similarity = analysis.sections.similarity { print("  perceptual hash \(similarity.perceptualHash)") }
                        if let faces = analysis.sections.faces { print(Self.describe(faces)) }
                        if let moderation = analysis.sections.moderation { print(Self.describe(moderation)) }
                        if let text = analysis.sections.text { print(Self.describe(text)) }
                    case .json:
                        let line = ClassifyLine(
                            file: path, model: "\(classifier.name) \(classifier.version)",
                            labels: labels, categories: analysis.sections.labels?.categories, properties: analysis.sections.properties,
                            similarity: analysis.sections.similarity, faces: analysis.sections.faces?.faces,
                            moderation: analysis.sections.moderation, text: analysis.sections.text?.detections,
                            decodeMs: analysis.decodeMs, inferenceMs: analysis.inferenceMs, error: nil)
                        print(String(decoding: try encoder.encode(line), as: UTF8.self))
                    }
                case .failure(let error):
                    failures += 1
                    switch format {
                    case .table:
                        FileHandle.standardError.write(Data("recognize: \(path): \(error)\n".utf8))
                    case .json:
                        let line = ClassifyLine(
                            file: path, model: "\(classifier.name) \(classifier.version)", labels: [], categories: nil, properties: nil,
                            similarity: nil, faces: nil, moderation: nil,
                            decodeMs: nil, inferenceMs: nil, error: "\(error)")
                        print(String(decoding: try encoder.encode(line), as: UTF8.self))
                    }
                }
            }
        }
        let seconds = (ContinuousClock.now - started).inSeconds
        if photos.count > 1 {
            // Model loading excluded: the rate is what a running recognizer sustains.
            let summary = String(
                format: "recognize: %d image(s) in %.2f s (%.1f images/s), %d failed\n",
                photos.count, seconds, Double(photos.count) / max(seconds, 1e-9), failures)
            FileHandle.standardError.write(Data(summary.utf8))
        }
        if failures > 0 { throw ExitCode(1) }
    }
}

extension Classify {
    /// Two indented lines: the three measures, then the dominant colours.
    static func describe(_ properties: ImageProperties) -> String {
        let measures = String(
            format: "  brightness %.0f  contrast %.0f  sharpness %.0f", properties.brightness, properties.contrast, properties.sharpness)
        let colors = properties.colors.map { "\($0.simpleName) \($0.hex) (\($0.cssName)) \(Int($0.share.rounded()))%" }
        return measures + "\n  colours: " + (colors.isEmpty ? "none" : colors.joined(separator: ", "))
    }

    /// "faces: 2" and a line per face: confidence, box (percent of the image), eyes.
    static func describe(_ section: FacesSection) -> String {
        var lines = ["  faces: \(section.faces.count)"]
        for face in section.faces {
            let box = face.box
            lines.append(
                String(
                    format: "    %5.1f%%  at %.0f%%,%.0f%%  size %.0f%% x %.0f%%", face.confidence, box.left * 100, box.top * 100,
                    box.width * 100, box.height * 100))
        }
        return lines.joined(separator: "\n")
    }

    /// "moderation: safe (nsfw 1.2%)" or "unsafe: Explicit 87%, ...".
    static func describe(_ section: ModerationSection) -> String {
        let labels = section.labels.map { String(format: "%@ %.0f%%", $0.name, $0.confidence) }.joined(separator: ", ")
        return String(format: "  moderation: %@ (nsfw %.1f%%)", section.isUnsafe ? "unsafe: \(labels)" : "safe", section.nsfwScore)
    }

    /// "text: 2 lines, 5 words" and a line per text line: confidence and what it says.
    static func describe(_ section: TextSection) -> String {
        let lines = section.lines
        var out = ["  text: \(lines.count) lines, \(section.words.count) words\(section.truncated ? " (more left out by --max-words)" : "")"]
        for line in lines { out.append(String(format: "    %5.1f%%  ", line.confidence) + "\"\(line.text)\"") }
        return out.joined(separator: "\n")
    }
}

/// One JSON output line of `recognize classify --format json`.
struct ClassifyLine: Encodable {
    var file: String
    var model: String
    var labels: [RecognizedLabel]
    var categories: [LabelCategory]?
    var properties: ImageProperties?
    var similarity: SimilaritySection?
    var faces: [DetectedFace]?
    var moderation: ModerationSection?
    var text: [TextDetection]?
    var decodeMs: Double?
    var inferenceMs: Double?
    var error: String?
}
