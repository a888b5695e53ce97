import Foundation
import Imaging
import ImagingTestSupport
import Testing

/// Timing figures, printed not asserted (the machine is shared): run Scripts/bench-preprocess.
@Suite("Preprocess benchmark", .enabled(if: ProcessInfo.processInfo.environment["IMAGING_BENCH"] != nil))
struct PreprocessBenchmark {
    /// A 1632x1224 (2 MP) photo-like JPEG: gradient plus fine noise so the entropy-coded data is
    /// the size of a real photo's (a smooth gradient alone decodes unrealistically fast).
    static func photoLikeJPEG() throws -> Data {
        let width = 1632
        let height = 1224
        var raster = Raster.gradient(width: width, height: height)
        var seed: UInt32 = 12345
        for index in raster.samples.indices {
            seed = seed &* 1_664_525 &+ 1_013_904_223
            let noise = Int(seed >> 28) - 8
            raster.samples[index] = UInt8(clamping: Int(raster.samples[index]) + noise)
        }
        return try ImageEncoder.encode(raster, as: .jpeg, quality: 85)
    }

    static func measure(_ label: String, bytes: Int, iterations: Int = 40, _ body: () throws -> Void) rethrows {
        try body()  // warm-up: libvips start, loader set-up, page faults
        var samples: [Double] = []
        let clock = ContinuousClock()
        for _ in 0..<iterations {
            let elapsed = try clock.measure(body)
            samples.append(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1e3)
        }
        samples.sort()
        let median = samples[samples.count / 2]
        let p90 = samples[samples.count * 9 / 10]
        print(
            String(
                format: "bench %-34@ %8d bytes  median %6.2f ms  p90 %6.2f ms  min %6.2f ms",
                label as NSString, bytes, median, p90, samples[0]))
    }

    @Test("preprocess timings")
    func timings() throws {
        let preprocessor = Preprocessor()
        print("bench libvips \(Vips.version), concurrency \(Vips.concurrency)")
        let photo = try Self.photoLikeJPEG()
        try Self.measure("2 MP JPEG (buffer)", bytes: photo.count) { _ = try preprocessor.pixels(from: photo) }
        try Self.measure("2 MP JPEG header only", bytes: photo.count) { _ = try ImageInspector.inspect(photo) }
        let bomb = try TestImages.badFixture("bomb-50000x50000.png")
        Self.measure("50000x50000 PNG bomb refused", bytes: bomb.count) { _ = try? preprocessor.pixels(from: bomb) }
        let png = try ImageEncoder.encode(.gradient(width: 1632, height: 1224), as: .png)
        try Self.measure("2 MP PNG (no shrink-on-load)", bytes: png.count, iterations: 10) { _ = try preprocessor.pixels(from: png) }

        let samples = TestImages.repositoryRoot.appendingPathComponent("Models/samples")
        for name in (try? FileManager.default.contentsOfDirectory(atPath: samples.path).sorted()) ?? [] where !name.hasSuffix(".json") {
            let path = samples.appendingPathComponent(name).path
            let header = try ImageInspector.inspect(fileAt: path)
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            try Self.measure("\(name) \(header.width)x\(header.height) (file)", bytes: size) {
                _ = try preprocessor.pixels(fromFile: path)
            }
        }
    }
}
