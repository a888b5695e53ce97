import Dispatch
import Foundation
import Imaging
import PipelineModel

/// The result of classifying one image.
public struct Classification: Sendable {
    /// Top labels, best first.
    public var labels: [RecognizedLabel]
    /// The image's categories, most confident first (empty without a category taxonomy).
    public var categories: [LabelCategory]
    /// Milliseconds spent reading, decoding and preparing this image.
    public var decodeMs: Double
    /// Milliseconds of the inference run, shared by every image of a batch.
    public var inferenceMs: Double
}

extension Classifier {
    /// Classifies image files in one batch: each file is read, preprocessing runs in parallel,
    /// inference once for the images that decoded. One result per path, in order; a bad image
    /// fails only itself.
    public func classify(files paths: [String], options: LabelOptions) -> [Result<Classification, any Error>] {
        ImageAnalysis.run(paths, with: [LabelAnalyzer(classifier: self, options: options)], limits: preprocessor.limits).map { result in
            result.map {
                Classification(
                    labels: $0.sections.labels?.labels ?? [], categories: $0.sections.labels?.categories ?? [], decodeMs: $0.decodeMs,
                    inferenceMs: $0.inferenceMs)
            }
        }
    }

    /// Classifies images already read, as `classify(files:options:)` does.
    public func classify(images: [AnalysisImage], options: LabelOptions) -> [Result<Classification, any Error>] {
        let prepared = preprocessInParallel(images)
        var ready: [(index: Int, pixels: [UInt8])] = []
        var results = [Result<Classification, any Error>?](repeating: nil, count: images.count)
        for (index, outcome) in prepared.enumerated() {
            switch outcome.pixels {
            case .success(let pixels): ready.append((index, pixels))
            case .failure(let error): results[index] = .failure(error)
            }
        }
        if !ready.isEmpty {
            let start = DispatchTime.now()
            do {
                let (probabilities, features) = try self.infer(ready.map(\.pixels))
                let inferenceMs = Self.milliseconds(since: start)
                for (position, item) in ready.enumerated() {
                    if featureCount > 0 { images[item.index].keep(features[position], for: featureKey) }
                    images[item.index].keep(probabilities[position], for: probabilitiesKey)
                    results[item.index] = .success(
                        Classification(
                            labels: labels(from: probabilities[position], options: options),
                            categories: hierarchy.categories(from: probabilities[position], options: options),
                            decodeMs: prepared[item.index].milliseconds, inferenceMs: inferenceMs))
                }
            } catch {
                for item in ready { results[item.index] = .failure(error) }
            }
        }
        return results.map { $0 ?? .failure(RecognitionError.unsupportedInputShape([])) }
    }

    private func preprocessInParallel(_ images: [AnalysisImage]) -> [(pixels: Result<[UInt8], any Error>, milliseconds: Double)] {
        let box = ResultBox(count: images.count)
        let preprocessor = self.preprocessor
        DispatchQueue.concurrentPerform(iterations: images.count) { index in
            let start = DispatchTime.now()
            let result = Result<[UInt8], any Error> { try images[index].pixels(with: preprocessor) }
            box.set(index, (result, Self.milliseconds(since: start)))
        }
        return box.values
    }

    static func milliseconds(since start: DispatchTime) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1_000_000
    }
}

/// Collects results written from concurrent iterations.
private final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [(pixels: Result<[UInt8], any Error>, milliseconds: Double)]
    init(count: Int) {
        storage = Array(repeating: (.success([]), 0), count: count)
    }
    func set(_ index: Int, _ value: (pixels: Result<[UInt8], any Error>, milliseconds: Double)) {
        lock.withLock { storage[index] = value }
    }
    var values: [(pixels: Result<[UInt8], any Error>, milliseconds: Double)] { lock.withLock { storage } }
}
