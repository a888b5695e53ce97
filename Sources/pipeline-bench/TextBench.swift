import ArgumentParser
import Foundation
import Imaging
import PipelineModel
import Recognition

/// `pipeline-bench text`: the whole OCR of image files (decode, detection, crops, orientation,
/// recognition) on the bundled PP-OCRv5 models; prints what was read and the median time per image,
/// for comparison with PaddleOCR's Python pipeline on onnxruntime (Scripts/bench text).
struct TextBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "text", abstract: "Read the text in image files and time it (for Scripts/bench text).")

    @Option(help: "Inference threads.")
    var threads: Int = 2
    @Option(help: "Timed runs per image (after one warm-up run).")
    var iterations: Int = 5
    @Option(help: "The longest side of the decoded image the text is read from.")
    var maxSide: Int = 1536
    @Flag(help: "Print every line and word as JSON.")
    var json = false
    @Argument(help: "Image files.")
    var photos: [String]

    func run() throws {
        guard threads >= 1, iterations >= 1 else { throw ValidationError("--threads and --iterations must be at least 1") }
        let reader = try TextReader(threads: threads)
        var medians: [Double] = []
        for path in photos {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            var section: TextSection?
            var times: [Double] = []
            for run in 0...iterations {
                let started = ContinuousClock.now
                let image = try FittedImage.decode(data, maxSide: maxSide, limits: .default)
                section = try reader.read(image)
                if run > 0 { times.append((ContinuousClock.now - started).inMilliseconds) }
            }
            let median = times.sorted()[times.count / 2]
            medians.append(median)
            guard let section else { continue }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(section), as: UTF8.self))
            }
            let lines = section.lines.map { "\"\($0.text)\" (\(Int($0.confidence.rounded())))" }.joined(separator: ", ")
            print(String(format: "%@: %.1f ms, %d lines, %d words: %@", path, median, section.lines.count, section.words.count, lines))
        }
        if medians.count > 1 { print(String(format: "median over images: %.1f ms", medians.sorted()[medians.count / 2])) }
    }
}
