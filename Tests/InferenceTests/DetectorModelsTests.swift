import Foundation
import Testing

@testable import Inference

/// The face detectors (BlazeFace, converted from TF-Lite) and the moderation model (open_nsfw,
/// a channels-last TensorFlow export) on our engine against onnxruntime's outputs on the same
/// ONNX files and inputs (Tests/Fixtures/golden/face-detection-*, open-nsfw).
@Suite("Face detection and moderation models against onnxruntime")
struct DetectorModelsTests {
    static func photos(in directory: URL, suffix: String) throws -> [String] {
        // The INT8 model's goldens (<photo>.int8.json, QuantizedModelTests) sit beside the fp32 ones.
        try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(suffix) && !$0.contains(".int8.") }
            .map { String($0.dropLast(suffix.count)) }.sorted()
    }

    /// Largest difference relative to max(1, |expected|): box offsets are in pixels, scores logits.
    static func worst(_ got: ArraySlice<Float>, _ want: ArraySlice<Float>) -> Float {
        zip(got, want).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? .infinity
    }

    @Test(
        "BlazeFace full and short range: box regressors and scores within 1e-3, one and two threads",
        arguments: [("face-detection-full-range", 192, 2304), ("face-detection-short-range", 128, 896)], [1, 2])
    func faceDetectors(model name: (String, Int, Int), threads: Int) throws {
        let (file, size, anchors) = name
        let golden = RepositoryPaths.golden.appendingPathComponent(file)
        let photos = try Self.photos(in: golden, suffix: ".rgb")
        #expect(photos.count >= 4)
        let model = try ONNXModel(contentsOf: RepositoryPaths.root.appendingPathComponent("Models/\(file).onnx"))
        let scoresName = try #require(model.proto.graph.output.dropFirst().first?.name)
        let session = try InferenceSession(model: model, batchSize: 1, threads: threads, tap: scoresName)
        #expect(session.inputShape == [1, 3, size, size])
        #expect(session.outputCount == anchors * 16)
        #expect(session.tapCount == anchors)
        let untapped = Result { try InferenceSession(model: model, batchSize: 1, threads: threads) }
        for photo in photos {
            let rgb = try Data(contentsOf: golden.appendingPathComponent("\(photo).rgb"))
            let input = rgb.map { Float($0) / 127.5 - 1 }
            let expected = try Data(contentsOf: golden.appendingPathComponent("\(photo).f32")).withUnsafeBytes {
                Array($0.bindMemory(to: Float.self))
            }
            try #require(expected.count == anchors * 17)
            let (boxes, scores) = try input.withUnsafeBufferPointer { try session.runReadingTap(nhwc: $0) }
            let boxError = Self.worst(boxes[...], expected[..<(anchors * 16)])
            let scoreError = Self.worst(scores[...], expected[(anchors * 16)...])
            #expect(boxError <= 1e-3, "\(file) \(photo): boxes differ by \(boxError)")
            // Without the tap the scores branch is dropped, not left dangling (XNNPACK would assert).
            let plain = try untapped.get()
            let alone = try input.withUnsafeBufferPointer { try plain.run(nhwc: $0) }
            #expect(alone == boxes)
            #expect(scoreError <= 1e-3, "\(file) \(photo): scores differ by \(scoreError)")
        }
    }

    struct ModerationGolden: Decodable {
        var input: String
        var scores: [Float]
    }

    /// open_nsfw's input from the RGB crop: BGR order minus the training mean, channels last.
    static func moderationInput(rgb: [UInt8]) -> [Float] {
        let mean: [Float] = [104, 117, 123]  // B, G, R
        var input = [Float](repeating: 0, count: rgb.count)
        for pixel in 0..<(rgb.count / 3) {
            for channel in 0..<3 { input[pixel * 3 + channel] = Float(rgb[pixel * 3 + 2 - channel]) - mean[channel] }
        }
        return input
    }

    @Test("open_nsfw: its channels-last BGR input taken as given, scores within 1e-4 on every sample")
    func moderationModel() throws {
        let golden = RepositoryPaths.golden.appendingPathComponent("open-nsfw")
        let photos = try Self.photos(in: golden, suffix: ".json")
        #expect(photos.count >= 6)
        let model = try ONNXModel(contentsOf: RepositoryPaths.root.appendingPathComponent("Models/open-nsfw.onnx"))
        let session = try InferenceSession(model: model, batchSize: 1, threads: 2)
        #expect(session.inputShape == [1, 3, 224, 224], "the NHWC input is folded into the first transpose")
        #expect(session.outputCount == 2)
        for photo in photos {
            let entry = try JSONDecoder().decode(ModerationGolden.self, from: Data(contentsOf: golden.appendingPathComponent("\(photo).json")))
            let input = Self.moderationInput(rgb: [UInt8](try Data(contentsOf: RepositoryPaths.root.appendingPathComponent(entry.input))))
            let scores = try input.withUnsafeBufferPointer { try session.run(nhwc: $0) }
            let error = zip(scores, entry.scores).map { abs($0 - $1) }.max() ?? .infinity
            #expect(error <= 1e-4, "\(photo): scores \(scores) vs \(entry.scores)")
        }
    }
}
