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

    @Test("the engine runs the QDQ file: logits close to onnxruntime's, same top-1 as fp32", arguments: [1, 2])
    func matchesOnnxRuntime(threads: Int) throws {
        let session = try InferenceSession(model: try ONNXModel(contentsOf: Self.model), batchSize: 1, threads: threads)
        let cases = try Self.cases()
        #expect(!cases.isEmpty, "no .int8.logits.json goldens (Scripts/quantize_model.py writes them)")
        for (photo, input, golden, fp32) in cases {
            let logits = try input.withUnsafeBufferPointer { try session.run(nhwc: $0) }
            let differences = zip(logits, golden).map { abs($0 - $1) }
            let worst = differences.max() ?? .infinity
            let mean = differences.reduce(0, +) / Float(max(1, differences.count))
            // The logits are fp32 (the classifier stays fp32), so "one step" has no meaning at the
            // output: a tie rounded the other way in one layer (the engines' fp32 sums differ in
            // their last bits) moves the next layers' values by a step. Measured: max 0.09-0.15,
            // mean 0.025-0.033, where fp32 is 0.26-0.78 / 0.06-0.16 from the same arithmetic.
            let fp32Mean = zip(fp32, golden).map { abs($0 - $1) }.reduce(0, +) / Float(max(1, fp32.count))
            #expect(worst <= 0.25 && mean <= 0.05, "\(photo): logits differ from onnxruntime's by up to \(worst), \(mean) on average")
            #expect(mean < fp32Mean, "\(photo): no closer to the INT8 arithmetic (\(mean)) than fp32 is (\(fp32Mean))")
            #expect(EfficientNetTests.argmax(logits) == EfficientNetTests.argmax(golden), "\(photo): top-1 differs from onnxruntime's")
            #expect(EfficientNetTests.argmax(logits) == EfficientNetTests.argmax(fp32), "\(photo): top-1 differs from fp32")
        }
    }
}
