import Foundation
import Testing

@testable import Inference

/// A QDQ model (Models/efficientnet-lite0-int8.onnx, made by Scripts/quantize_model.py) against
/// onnxruntime running the same file with its exact arithmetic (graph optimizations off).
@Suite(
    "INT8 (QDQ) EfficientNet-Lite0 against onnxruntime",
    .enabled(if: FileManager.default.fileExists(atPath: RepositoryPaths.quantizedModel.path), "needs Models/efficientnet-lite0-int8.onnx"))
struct QuantizedModelTests {
    static let model = RepositoryPaths.quantizedModel

    static func cases() throws -> [(photo: String, nhwc: [Float], golden: [Float], fp32: [Float])] {
        let normalisation = try Normalisation.load()
        let golden = RepositoryPaths.golden
        return try RepositoryPaths.goldenPhotos.compactMap { photo in
            guard let int8 = try? Data(contentsOf: golden.appendingPathComponent("\(photo).int8.logits.json")) else { return nil }
            let rgb = try Data(contentsOf: golden.appendingPathComponent("\(photo).rgb"))
            let fp32 = try Data(contentsOf: golden.appendingPathComponent("\(photo).logits.json"))
            return (
                photo, normalisation.nhwc(rgb), try JSONDecoder().decode(GoldenLogits.self, from: int8).logits,
                try JSONDecoder().decode(GoldenLogits.self, from: fp32).logits
            )
        }
    }

    /// The engines that run a QDQ file: its fp32 emulation (level 0) and each INT8 kernel level this CPU has.
    static let engines: [(level: Int, threads: Int)] =
        [(0, 1)] + (1...max(1, QuantizedConvolution.cpuLevel)).filter { $0 <= QuantizedConvolution.cpuLevel }.flatMap { [($0, 1), ($0, 2)] }

    static func softmax(_ logits: [Float]) -> [Float] {
        let top = logits.max() ?? 0
        let e = logits.map { exp($0 - top) }
        let sum = e.reduce(0, +)
        return e.map { $0 / sum }
    }

    @Test("the engine runs the QDQ file: logits close to onnxruntime's, the labels of fp32", arguments: engines.indices)
    func matchesOnnxRuntime(engine: Int) throws {
        let (level, threads) = Self.engines[engine]
        let session = try InferenceSession(
            model: try ONNXModel(contentsOf: Self.model), batchSize: 1, threads: threads, ownKernels: true, int8Level: level)
        let cases = try Self.cases()
        #expect(!cases.isEmpty, "no .int8.logits.json goldens (Scripts/quantize_model.py writes them)")
        for (photo, input, golden, fp32) in cases {
            let logits = try input.withUnsafeBufferPointer { try session.run(nhwc: $0) }
            let differences = zip(logits, golden).map { abs($0 - $1) }
            let worst = differences.max() ?? .infinity
            let mean = differences.reduce(0, +) / Float(max(1, differences.count))
            // The logits are fp32 (the classifier stays fp32), and no two engines agree to the step deep in
            // the network: a value within a rounding error of a tie rounds either way (the engines' fp32 sums
            // differ in their last bits, ours are exact integers), and each such step moves the next layers'
            // values a little, which tips further ties. Measured against onnxruntime: max 0.09-0.16, mean
            // 0.024-0.033 for the emulation and the kernels alike, where fp32 is 0.26-0.78 / 0.06-0.16 away
            // (and a float64 evaluation of the file is 0.11-0.15 / 0.02-0.03 away).
            let fp32Mean = zip(fp32, golden).map { abs($0 - $1) }.reduce(0, +) / Float(max(1, fp32.count))
            #expect(worst <= 0.25 && mean <= 0.05, "\(photo), level \(level): logits differ from onnxruntime's by up to \(worst), \(mean) on average")
            #expect(mean < fp32Mean, "\(photo), level \(level): no closer to the INT8 arithmetic (\(mean)) than fp32 is (\(fp32Mean))")
            // The labels: fp32's top-5 probabilities within a few points, and its top-1 unless fp32 itself calls it a
            // near tie (cat.jpg: tiger cat 0.389, Egyptian cat 0.348), where the top-1 must be one of the two.
            let (p8, p32) = (Self.softmax(logits), Self.softmax(fp32))
            let ranked = p32.indices.sorted { p32[$0] > p32[$1] }
            let moved = ranked.prefix(5).map { abs(p8[$0] - p32[$0]) }.max() ?? 1
            #expect(moved <= 0.06, "\(photo), level \(level): a top-5 probability moved by \(moved)")
            let top = EfficientNetTests.argmax(logits)
            if p32[ranked[0]] - p32[ranked[1]] >= 0.1 {
                #expect(top == ranked[0], "\(photo), level \(level): top-1 \(top), fp32's is \(ranked[0])")
            } else {
                #expect(ranked.prefix(2).contains(top), "\(photo), level \(level): top-1 \(top) is not one of fp32's near-tied \(ranked.prefix(2))")
            }
        }
    }
}

/// open_nsfw in INT8 (Models/open-nsfw-int8.onnx: dense 3x3 and strided 1x1 convolutions on the gathered-row
/// GEMM, a quantized 7x7 stem) against onnxruntime's exact arithmetic on the same file and against fp32.
@Suite(
    "INT8 (QDQ) open_nsfw against onnxruntime",
    .enabled(
        if: FileManager.default.fileExists(atPath: RepositoryPaths.root.appendingPathComponent("Models/open-nsfw-int8.onnx").path),
        "needs Models/open-nsfw-int8.onnx"))
struct QuantizedModerationTests {
    @Test("NSFW probabilities of onnxruntime's INT8 arithmetic and of fp32", arguments: QuantizedModelTests.engines.indices)
    func matchesOnnxRuntime(engine: Int) throws {
        let (level, threads) = QuantizedModelTests.engines[engine]
        let model = try ONNXModel(contentsOf: RepositoryPaths.root.appendingPathComponent("Models/open-nsfw-int8.onnx"))
        let session = try InferenceSession(model: model, batchSize: 1, threads: threads, ownKernels: true, int8Level: level)
        let golden = RepositoryPaths.golden.appendingPathComponent("open-nsfw")
        let photos = try DetectorModelsTests.photos(in: golden, suffix: ".json")
        #expect(photos.count >= 6)
        for photo in photos {
            let decoder = JSONDecoder()
            let fp32 = try decoder.decode(
                DetectorModelsTests.ModerationGolden.self, from: Data(contentsOf: golden.appendingPathComponent("\(photo).json")))
            let int8 = try decoder.decode(
                DetectorModelsTests.ModerationGolden.self, from: Data(contentsOf: golden.appendingPathComponent("\(photo).int8.json")))
            let input = DetectorModelsTests.moderationInput(
                rgb: [UInt8](try Data(contentsOf: RepositoryPaths.root.appendingPathComponent(int8.input))))
            let scores = try input.withUnsafeBufferPointer { try session.run(nhwc: $0) }
            #expect(scores.count == 2)
            // The probabilities, and their logarithms (most samples score near 0, where only the log shows a change).
            let off = abs(scores[1] - int8.scores[1])
            let logOff = abs(log(max(scores[1], 1e-7)) - log(max(int8.scores[1], 1e-7)))
            #expect(off <= 0.005 && logOff <= 0.6, "\(photo), level \(level): nsfw \(scores[1]), onnxruntime's INT8 arithmetic \(int8.scores[1])")
            #expect(abs(scores[1] - fp32.scores[1]) <= 0.03, "\(photo), level \(level): nsfw \(scores[1]), fp32 \(fp32.scores[1])")
        }
    }
}
