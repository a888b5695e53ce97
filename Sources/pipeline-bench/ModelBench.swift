import ArgumentParser
import Dispatch
import Foundation
import Inference
import Recognition

/// `pipeline-bench model`: one ONNX file on the engine with a fixed input, serving timing rounds
/// for Scripts/bench (the protocol of `classifier --serve`), so any model (face detectors,
/// moderation) is compared with onnxruntime on the same file and the same input.
struct ModelBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model", abstract: "Serve timing rounds of one ONNX model on a fixed input (for Scripts/bench models).")

    enum Normalization: String, ExpressibleByArgument {
        /// RGB bytes to [-1, 1] (BlazeFace).
        case unit
        /// RGB bytes to BGR minus the ImageNet BGR mean (open_nsfw).
        case bgrMean = "bgr-mean"
        /// RGB bytes to 0-1, minus ImageNet's mean, over its standard deviation (the text detector).
        case imagenet
    }

    @Option(help: "The ONNX file.")
    var model: String
    @Option(help: "The input image: raw RGB bytes (HWC) of the model's input size.")
    var rgb: String
    @Option(help: "How bytes become the input: unit, bgr-mean or imagenet.")
    var normalize: Normalization
    @Option(help: "Batch size (only 1 is supported).")
    var batchSizes: String = "1"
    @Option(help: "Inference threads.")
    var threadCounts: String = "1"
    @Flag(help: "Serve timing rounds on stdin/stdout (the default; accepted for the driver).")
    var serve = false
    @Option(help: "Instead of serving: run this many times and print each step's median time.")
    var profile: Int?
    @Option(help: "The input's axes after the batch, comma-separated (e.g. 3,48,320), for a model that leaves them open.")
    var inputSize: String?
    @Option(help: "Instead of serving: run once and write the output as little-endian float32 to this file.")
    var output: String?
    @Argument(help: "Ignored (the driver passes photos).")
    var photos: [String] = []

    func run() throws {
        guard let threads = Int(threadCounts.split(separator: ",").first ?? "1"), threads >= 1 else {
            throw ValidationError("--thread-counts needs a positive count")
        }
        let size = try inputSize.map { text in
            try text.split(separator: ",").map { part in
                guard let value = Int(part), value > 0 else { throw ValidationError("--input-size takes positive sizes like 3,48,320") }
                return value
            }
        }
        let session = try InferenceSession(
            model: ONNXModel(contentsOf: URL(fileURLWithPath: model)), batchSize: 1, threads: threads, inputSize: size)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: rgb)))
        guard bytes.count == session.inputShape.dropFirst().reduce(1, *) else {
            throw ValidationError("\(rgb) has \(bytes.count) bytes; the model takes \(session.inputShape)")
        }
        let input: [Float] =
            switch normalize {
            case .unit: bytes.map { Float($0) / 127.5 - 1 }
            case .bgrMean: ModerationModel.networkInput(rgb: bytes, meanBGR: [104, 117, 123])
            case .imagenet:
                bytes.enumerated().map { index, byte in
                    (Float(byte) / 255 - [0.485, 0.456, 0.406][index % 3]) / [0.229, 0.224, 0.225][index % 3]
                }
            }
        if let output {
            let result = try input.withUnsafeBufferPointer { try session.run(nhwc: $0) }
            try result.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: output)) }
            print("output shape \(session.outputShape)")
            return
        }
        let run = { _ = try input.withUnsafeBufferPointer { try session.run(nhwc: $0) } }
        try run()  // warm-up
        if let profile {
            session.setProfiling(true)
            for _ in 0..<max(1, profile) { try run() }
            for step in session.stepProfile().sorted(by: { $0.medianMicroseconds > $1.medianMicroseconds }) {
                print(String(format: "%8.1f us  %@", step.medianMicroseconds, String(step.nodes.prefix(150))))
            }
            return
        }
        try TimingRounds.serve(ready: ["engine": "ours", "threads": threads], run)
    }
}
