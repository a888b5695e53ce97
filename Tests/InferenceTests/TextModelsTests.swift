import Foundation
import Testing

@testable import Inference

/// PP-OCRv5's detector, recognizer and orientation classifier (Models/ppocrv5-*.onnx, input sizes
/// left open) on our engine against onnxruntime's outputs on the same files and inputs
/// (Tests/Fixtures/golden/ppocrv5, written by Scripts/convert_ocr.py).
@Suite("Text models against onnxruntime")
struct TextModelsTests {
    static let golden = RepositoryPaths.golden.appendingPathComponent("ppocrv5")

    static func model(_ name: String) throws -> ONNXModel {
        try ONNXModel(contentsOf: RepositoryPaths.root.appendingPathComponent("Models/\(name).onnx"))
    }

    static func bytes(_ file: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: golden.appendingPathComponent(file)))
    }

    /// HWC bytes as the recognizer and classifier take them: x / 127.5 - 1.
    static func lineInput(_ rgb: [UInt8]) -> [Float] { rgb.map { Float($0) / 127.5 - 1 } }

    @Test("the detector's probability map of a photo with a sign, within 1e-4, at its size and at a second size", arguments: [1, 2])
    func detector(threads: Int) throws {
        let model = try Self.model("ppocrv5-det")
        let session = try InferenceSession(model: model, batchSize: 1, threads: threads, inputSize: [3, 256, 320])
        #expect(session.outputShape == [1, 1, 256, 320])
        let rgb = try Self.bytes("sign.rgb")
        let (mean, std): ([Float], [Float]) = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
        let input = rgb.enumerated().map { index, byte in (Float(byte) / 255 - mean[index % 3]) / std[index % 3] }
        let expected = try Data(contentsOf: Self.golden.appendingPathComponent("sign.det.f32")).withUnsafeBytes {
            Array($0.bindMemory(to: Float.self))
        }
        let map = try input.withUnsafeBufferPointer { try session.run(nhwc: $0) }
        try #require(map.count == expected.count)
        let worst = zip(map, expected).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= 1e-4, "the map differs by \(worst)")
        #expect(map.filter { $0 > 0.3 }.count > 1000, "the sign's text is marked")
        // The same model at another size (the shapes inside are folded per session).
        let other = try InferenceSession(model: model, batchSize: 1, threads: threads, inputSize: [3, 128, 96])
        #expect(other.outputShape == [1, 1, 128, 96])
    }

    struct Recognition: Decodable {
        var text: String
        var positions: Int
        var classes: Int
        /// Per position, the five best (class, probability) pairs.
        var top5: [[[Float]]]
    }

    @Test("the recognizer on a rendered line: every position's five best classes within 1e-4", arguments: [1, 2])
    func recognizer(threads: Int) throws {
        let golden = try JSONDecoder().decode(Recognition.self, from: Data(contentsOf: Self.golden.appendingPathComponent("line.rec.json")))
        let rgb = try Self.bytes("line.rgb")
        let width = rgb.count / 3 / 48
        let session = try InferenceSession(model: Self.model("ppocrv5-rec"), batchSize: 1, threads: threads, inputSize: [3, 48, width])
        #expect(session.outputShape == [1, golden.positions, golden.classes])
        let input = Self.lineInput(rgb)
        let scores = try input.withUnsafeBufferPointer { try session.run(nhwc: $0) }
        var worst: Float = 0
        for (position, best) in golden.top5.enumerated() {
            let row = scores[(position * golden.classes)..<((position + 1) * golden.classes)]
            #expect(row.indices.max(by: { row[$0] < row[$1] }).map { $0 - row.startIndex } == Int(best[0][0]), "position \(position)")
            for pair in best { worst = max(worst, abs(row[row.startIndex + Int(pair[0])] - pair[1])) }
        }
        #expect(worst <= 1e-4, "probabilities differ by \(worst)")
    }

    struct Orientation: Decodable {
        var upright: [Float]
        var turned: [Float]
    }

    @Test("the orientation classifier on the line upright and turned 180 degrees")
    func orientation() throws {
        let golden = try JSONDecoder().decode(Orientation.self, from: Data(contentsOf: Self.golden.appendingPathComponent("line.cls.json")))
        let rgb = try Self.bytes("line.rgb")
        let width = rgb.count / 3 / 48
        let session = try InferenceSession(model: Self.model("ppocrv5-cls"), batchSize: 1, threads: 1, inputSize: [3, 48, 192])
        // The line's first 192 columns, then the same turned (rows and columns reversed).
        var crop: [UInt8] = []
        for y in 0..<48 { crop += rgb[((y * width) * 3)..<((y * width + 192) * 3)] }
        var turned = [UInt8](repeating: 0, count: crop.count)
        for y in 0..<48 {
            for x in 0..<192 {
                for c in 0..<3 { turned[((47 - y) * 192 + (191 - x)) * 3 + c] = crop[(y * 192 + x) * 3 + c] }
            }
        }
        for (pixels, want) in [(crop, golden.upright), (turned, golden.turned)] {
            let got = try Self.lineInput(pixels).withUnsafeBufferPointer { try session.run(nhwc: $0) }
            #expect(zip(got, want).allSatisfy { abs($0 - $1) <= 1e-4 }, "\(got) vs \(want)")
        }
    }
}
