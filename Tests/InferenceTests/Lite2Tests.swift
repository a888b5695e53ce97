import Foundation
import Testing

@testable import Inference

/// The larger model option: EfficientNet-Lite2 (260x260) on our engine against onnxruntime's
/// logits on the same ONNX file and inputs (Tests/Fixtures/golden/efficientnet-lite2).
@Suite("EfficientNet-Lite2 against onnxruntime")
struct Lite2Tests {
    static let model = RepositoryPaths.root.appendingPathComponent("Models/efficientnet-lite2.onnx")
    static let golden = RepositoryPaths.golden.appendingPathComponent("efficientnet-lite2")

    @Test("every golden photo, batch 1 and a batch of all: logits within 1e-3, same top-1, pooled features tapped")
    func logitsMatch() throws {
        let photos = try FileManager.default.contentsOfDirectory(atPath: Self.golden.path).filter { $0.hasSuffix(".rgb") }
            .map { String($0.dropLast(4)) }.sorted()
        #expect(photos.count >= 3)
        let normalisation = try Normalisation.load()
        let inputs = try photos.map { photo in
            (
                photo,
                normalisation.nhwc(try Data(contentsOf: Self.golden.appendingPathComponent("\(photo).rgb"))),
                try JSONDecoder().decode(GoldenLogits.self, from: Data(contentsOf: Self.golden.appendingPathComponent("\(photo).logits.json")))
                    .logits
            )
        }
        let onnx = try ONNXModel(contentsOf: Self.model)
        let tap = try #require(onnx.penultimateValue)
        let single = try InferenceSession(model: onnx, batchSize: 1, threads: 2, tap: tap)
        #expect(single.inputShape == [1, 3, 260, 260])
        #expect(single.tapCount == 1280)
        for (photo, input, golden) in inputs {
            let (logits, features) = try input.withUnsafeBufferPointer { try single.runReadingTap(nhwc: $0) }
            let worst = zip(logits, golden).map { abs($0 - $1) }.max() ?? .infinity
            #expect(worst <= 1e-3, "\(photo): max abs logit difference \(worst)")
            #expect(EfficientNetTests.argmax(logits) == EfficientNetTests.argmax(golden), "\(photo)")
            // ReLU6 then average: every pooled feature is within 0-6.
            #expect(features.count == 1280 && features.allSatisfy { (0...6).contains($0) } && features.contains { $0 > 0 })
        }
        let batch = try InferenceSession(model: onnx, batchSize: inputs.count, threads: 2)
        let all = try inputs.flatMap(\.1).withUnsafeBufferPointer { try batch.run(nhwc: $0) }
        for (index, item) in inputs.enumerated() {
            let worst = zip(all[(index * 1000)..<((index + 1) * 1000)], item.2).map { abs($0 - $1) }.max() ?? .infinity
            #expect(worst <= 1e-3, "\(item.0) in a batch: \(worst)")
        }
    }
}
