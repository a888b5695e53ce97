import Foundation

/// Paths inside the repository, found from this file's location so tests run from any directory.
enum RepositoryPaths {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // InferenceTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()

    static let model = root.appendingPathComponent("Models/efficientnet-lite0.onnx")
    static let quantizedModel = root.appendingPathComponent("Models/efficientnet-lite0-int8.onnx")
    static let modelCard = root.appendingPathComponent("Models/efficientnet-lite0.json")
    static let golden = root.appendingPathComponent("Tests/Fixtures/golden")

    /// Golden photo names (`cat.jpg`, ...) that have both an .rgb input and .logits.json output.
    static var goldenPhotos: [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: golden.path)) ?? []
        return files.filter { $0.hasSuffix(".rgb") }.map { String($0.dropLast(4)) }
            .filter { files.contains("\($0).logits.json") }.sorted()
    }

    static var haveEfficientNet: Bool {
        FileManager.default.fileExists(atPath: model.path) && !goldenPhotos.isEmpty
    }
}

/// The model card's normalisation: value = (byte - mean[c]) / std[c].
struct Normalisation: Decodable {
    struct Input: Decodable {
        var mean: [Float]
        var std: [Float]
    }
    var input: Input

    static func load() throws -> Normalisation {
        guard let data = try? Data(contentsOf: RepositoryPaths.modelCard) else {
            return Normalisation(input: Input(mean: [127, 127, 127], std: [128, 128, 128]))
        }
        return try JSONDecoder().decode(Normalisation.self, from: data)
    }

    /// Turns uint8 HWC RGB into normalised float HWC (NHWC for one image).
    func nhwc(_ bytes: Data) -> [Float] {
        bytes.enumerated().map { index, byte in
            let channel = index % 3
            return (Float(byte) - input.mean[channel]) / input.std[channel]
        }
    }
}

/// The golden onnxruntime logits for one photo.
struct GoldenLogits: Decodable {
    var logits: [Float]
}
