import Foundation
import Testing

@testable import Inference

@Suite(
    "EfficientNet-Lite0 against onnxruntime",
    .enabled(if: RepositoryPaths.haveEfficientNet, "needs Models/efficientnet-lite0.onnx and Tests/Fixtures/golden"))
struct EfficientNetTests {
    static func inputs() throws -> [(photo: String, nhwc: [Float], golden: [Float])] {
        let normalisation = try Normalisation.load()
        return try RepositoryPaths.goldenPhotos.map { photo in
            let rgb = try Data(contentsOf: RepositoryPaths.golden.appendingPathComponent("\(photo).rgb"))
            let json = try Data(contentsOf: RepositoryPaths.golden.appendingPathComponent("\(photo).logits.json"))
            return (photo, normalisation.nhwc(rgb), try JSONDecoder().decode(GoldenLogits.self, from: json).logits)
        }
    }

    static func argmax(_ values: some Collection<Float>) -> Int {
        values.indices.max { values[$0] < values[$1] }.map { values.distance(from: values.startIndex, to: $0) } ?? -1
    }

    @Test("batch 1, one and two threads: logits within 1e-3 of onnxruntime", arguments: [1, 2])
    func singleImages(threads: Int) throws {
        let model = try ONNXModel(contentsOf: RepositoryPaths.model)
        let session = try InferenceSession(model: model, batchSize: 1, threads: threads)
        #expect(session.inputShape == [1, 3, 224, 224])
        #expect(session.outputCount == 1000)
        for (photo, input, golden) in try Self.inputs() {
            let logits = try input.withUnsafeBufferPointer { try session.run(nhwc: $0) }
            let worst = zip(logits, golden).map { abs($0 - $1) }.max() ?? .infinity
            #expect(logits.count == 1000)
            #expect(worst <= 1e-3, "\(photo): max abs logit difference \(worst)")
            #expect(Self.argmax(logits) == Self.argmax(golden), "\(photo): top-1 differs")
        }
    }

    @Test("a batch of all golden images gives each image's own logits, via NCHW input too")
    func batched() throws {
        let inputs = try Self.inputs()
        let model = try ONNXModel(contentsOf: RepositoryPaths.model)
        let session = try InferenceSession(model: model, batchSize: inputs.count, threads: 2)
        let nhwc = inputs.flatMap(\.nhwc)
        let viaNHWC = try nhwc.withUnsafeBufferPointer { try session.run(nhwc: $0) }
        // Same images in NCHW order must give the same answer.
        var nchw = [Float](repeating: 0, count: nhwc.count)
        let plane = 224 * 224
        for image in 0..<inputs.count {
            for pixel in 0..<plane {
                for channel in 0..<3 { nchw[image * 3 * plane + channel * plane + pixel] = nhwc[(image * plane + pixel) * 3 + channel] }
            }
        }
        let viaNCHW = try session.run(nchw: nchw)
        #expect(viaNHWC == viaNCHW)
        for (index, item) in inputs.enumerated() {
            let logits = viaNHWC[(index * 1000)..<((index + 1) * 1000)]
            let worst = zip(logits, item.golden).map { abs($0 - $1) }.max() ?? .infinity
            #expect(worst <= 1e-3, "\(item.photo) in batch: max abs logit difference \(worst)")
        }
    }

    @Test("metadata_props are exposed")
    func metadata() throws {
        let model = try ONNXModel(contentsOf: RepositoryPaths.model)
        #expect(model.metadata["model_name"] != nil)
    }

    /// Not a test of speed (no timed assertions): prints ms/image when INFERENCE_BENCH=1, for Scripts/bench-inference.py.
    @Test("benchmark (prints figures)", .enabled(if: ProcessInfo.processInfo.environment["INFERENCE_BENCH"] == "1"))
    func benchmark() throws {
        let model = try ONNXModel(contentsOf: RepositoryPaths.model)
        let one = try Self.inputs()[0].nhwc
        let iterations = Int(ProcessInfo.processInfo.environment["INFERENCE_BENCH_ITERATIONS"] ?? "") ?? 30
        let environment = ProcessInfo.processInfo.environment
        let batches = (environment["INFERENCE_BENCH_BATCHES"] ?? "1,8").split(separator: ",").compactMap { Int($0) }
        let threadCounts = (environment["INFERENCE_BENCH_THREADS"] ?? "1,2").split(separator: ",").compactMap { Int($0) }
        // INFERENCE_BENCH_COMPARE=1 also times the pure XNNPACK path (1x1 convolutions not on CKernels).
        let engines = environment["INFERENCE_BENCH_COMPARE"] == "1" ? [true, false] : [true]
        let configurations = batches.flatMap { batch in threadCounts.flatMap { threads in engines.map { (batch, threads, $0) } } }
        for (batch, threads, ownKernels) in configurations {
            let session = try InferenceSession(model: model, batchSize: batch, threads: threads, ownKernels: ownKernels)
            let input = Array([[Float]](repeating: one, count: batch).joined())
            try input.withUnsafeBufferPointer { buffer in
                for _ in 0..<3 { _ = try session.run(nhwc: buffer) }
                var wall: [Double] = []
                var cpu: [Double] = []
                for _ in 0..<iterations {
                    // Thread CPU time is robust on a loaded shared machine; wall time is what users see.
                    let (wallStart, cpuStart) = (Self.now(CLOCK_MONOTONIC), Self.now(CLOCK_THREAD_CPUTIME_ID))
                    _ = try session.run(nhwc: buffer)
                    cpu.append((Self.now(CLOCK_THREAD_CPUTIME_ID) - cpuStart) / Double(batch))
                    wall.append((Self.now(CLOCK_MONOTONIC) - wallStart) / Double(batch))
                }
                let median = { (values: [Double]) in values.sorted()[values.count / 2] }
                // "xnnpack" is the engine as shipped (what Scripts/bench-inference.py reads); "xnnpack-only" skips CKernels.
                let engine = ownKernels ? "xnnpack" : "xnnpack-only"
                print(
                    "BENCH \(engine) "
                        + String(
                            format: "batch=%d threads=%d wall_median=%.2f wall_best=%.2f thread_cpu_median=%.2f ms/image",
                            batch, threads, median(wall), wall.min() ?? 0, median(cpu)))
            }
        }
    }

    /// Milliseconds on the given clock.
    static func now(_ clock: clockid_t) -> Double {
        var spec = timespec()
        clock_gettime(clock, &spec)
        return Double(spec.tv_sec) * 1000 + Double(spec.tv_nsec) / 1e6
    }
}
