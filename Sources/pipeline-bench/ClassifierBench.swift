import ArgumentParser
import CLISupport
import Dispatch
import Foundation
import Recognition
import RecognitionOptions

/// `pipeline-bench classifier`: classifier throughput figures for Scripts/bench (JSON lines on stdout).
struct ClassifierBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classifier",
        abstract: "Measure preprocessing and inference speed on image files (prints JSON lines).")

    @Argument(help: "Image files to use (cycled).")
    var photos: [String]

    @OptionGroup var model: ModelOptions

    @Option(help: "Comma-separated batch sizes.")
    var batchSizes: String = "1,8"

    @Option(help: "Comma-separated thread counts.")
    var threadCounts: String = "1,2"

    @Option(help: "Timed runs per configuration (after one warm-up run).")
    var iterations: Int = 20

    @Flag(help: "Also print each inference step's median time (one JSON line per step) for every configuration.")
    var profile = false

    @Flag(
        help:
            "Serve timing rounds for Scripts/bench: load one configuration (first batch size and thread count), print a ready line, then for each stdin line N run N timed inferences and print their ms per batch."
    )
    var serve = false

    func validate() throws {
        guard !photos.isEmpty else { throw ValidationError("give at least one image file") }
        guard iterations >= 1 else { throw ValidationError("--iterations must be at least 1") }
    }

    func run() async throws {
        if serve { return try serveRounds() }
        let batches = batchSizes.split(separator: ",").compactMap { Int($0) }
        let threads = threadCounts.split(separator: ",").compactMap { Int($0) }
        var options = model
        options.threads = 1
        let base = try options.loadClassifier()

        // Preprocessing alone, per file, single thread.
        for path in Set(photos).sorted() {
            var samples: [Double] = []
            for run in 0...iterations {
                let start = DispatchTime.now()
                _ = try base.preprocessor.pixels(fromFile: path)
                if run > 0 { samples.append(Self.ms(since: start)) }
            }
            emit(["stage": "preprocess", "file": path, "median_ms": Self.median(samples)])
        }
        let pixels = try photos.map { try base.preprocessor.pixels(fromFile: $0) }

        for threadCount in threads {
            options.threads = threadCount
            let classifier = try options.loadClassifier()
            for batch in batches {
                let input = (0..<batch).map { pixels[$0 % pixels.count] }
                if profile {
                    try classifier.prepare(maxBatchSize: batch)
                    classifier.setProfiling(true)
                }
                var samples: [Double] = []
                for run in 0...iterations {
                    let start = DispatchTime.now()
                    _ = try classifier.probabilities(for: input)
                    if run > 0 { samples.append(Self.ms(since: start)) }
                }
                let median = Self.median(samples)
                emit([
                    "stage": "inference", "engine": "xnnpack", "batch": batch, "threads": threadCount,
                    "median_ms_per_batch": median, "median_ms_per_image": median / Double(batch),
                    "images_per_s": Double(batch) * 1000 / median,
                ])
                if profile {
                    // A batch above Classifier's largest chunk runs on smaller sessions: each reports its own steps.
                    for (session, steps) in classifier.stepProfiles() {
                        for step in steps {
                            emit([
                                "stage": "step", "batch": batch, "session_batch": session, "threads": threadCount,
                                "nodes": step.nodes, "median_us": step.medianMicroseconds, "runs": step.runs,
                            ])
                        }
                    }
                    classifier.setProfiling(false)
                }
            }
        }
    }

    /// One engine of an interleaved comparison: the driver alternates rounds between this process and
    /// onnxruntime's (Scripts/bench_onnxruntime.py --serve), so both see the same machine load.
    private func serveRounds() throws {
        guard let batch = batchSizes.split(separator: ",").compactMap({ Int($0) }).first,
            let threadCount = threadCounts.split(separator: ",").compactMap({ Int($0) }).first
        else { throw ValidationError("--serve needs a batch size and a thread count") }
        var options = model
        options.threads = threadCount
        let classifier = try options.loadClassifier()
        let pixels = try photos.map { try classifier.preprocessor.pixels(fromFile: $0) }
        let input = (0..<batch).map { pixels[$0 % pixels.count] }
        _ = try classifier.probabilities(for: input)  // warm-up: first run allocates and packs weights
        try TimingRounds.serve(ready: ["engine": "xnnpack", "batch": batch, "threads": threadCount]) {
            _ = try classifier.probabilities(for: input)
        }
    }

    private func emit(_ object: [String: Any]) { TimingRounds.emit(object) }

    static func ms(since start: DispatchTime) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1_000_000
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }
}
