import Foundation
import Imaging
import PipelineModel

/// What the analyzers found about one image, with the time spent: what the recognizer stores
/// and publishes, and what `recognize classify` prints.
public struct ImageAnalysis: Sendable {
    public var sections = ImageAnalyses()
    /// Reading and preparing the image, summed over analyzers.
    public var decodeMs = 0.0
    /// Model and measurement time, summed over analyzers (a batch's inference counts for each image).
    public var inferenceMs = 0.0

    public init() {}

    /// Reads each file once and runs every analyzer over the batch, in order; an image fails as
    /// a whole when it cannot be read or any analyzer fails on it. One result per path.
    public static func run(_ paths: [String], with analyzers: [any ImageAnalyzer], limits: ImageLimits) -> [Result<ImageAnalysis, any Error>] {
        var results = [Result<ImageAnalysis, any Error>](repeating: .success(ImageAnalysis()), count: paths.count)
        var opened: [(index: Int, image: AnalysisImage)] = []
        for (index, path) in paths.enumerated() {
            let started = ContinuousClock.now
            do {
                opened.append((index, try AnalysisImage.open(path, limits: limits)))
                var analysis = ImageAnalysis()
                analysis.decodeMs = (ContinuousClock.now - started).inMilliseconds
                results[index] = .success(analysis)
            } catch {
                results[index] = .failure(error)
            }
        }
        for analyzer in analyzers {
            let live = opened.filter { if case .success = results[$0.index] { true } else { false } }
            guard !live.isEmpty else { break }
            for (item, output) in zip(live, analyzer.analyze(live.map(\.image))) {
                switch output {
                case .success(let output):
                    if case .success(var analysis) = results[item.index] {
                        analysis.sections.insert(output.section)
                        analysis.decodeMs += output.decodeMs
                        analysis.inferenceMs += output.inferenceMs
                        results[item.index] = .success(analysis)
                    }
                case .failure(let error):
                    results[item.index] = .failure(error)
                }
            }
        }
        // Faces say "person", which ImageNet's classes cannot: join it to the labels.
        return results.map { result in
            result.map { analysis in
                var analysis = analysis
                analysis.sections.addPersonLabel()
                return analysis
            }
        }
    }
}

extension ImageAnalyses {
    /// The label a person would write for a photo with faces: "person" at the most confident
    /// face's confidence (or the classifier's, if higher), in the "people" category, added to
    /// the labels section in confidence order. It can make the section one label longer than
    /// `--max-labels`: the classifier's labels are not dropped for it.
    public mutating func addPersonLabel() {
        guard let best = faces?.faces.map(\.confidence).max(), var section = labels else { return }
        var person = DetectedLabel(name: "person", confidence: best, parents: [], categories: ["people"])
        if let index = section.labels.firstIndex(where: { $0.name == "person" }) {
            person = section.labels.remove(at: index)
            person.confidence = max(person.confidence, best)
        }
        section.labels.insert(person, at: section.labels.firstIndex { $0.confidence < person.confidence } ?? section.labels.count)
        var categories = section.categories ?? []
        if let index = categories.firstIndex(where: { $0.id == "people" }) {
            categories[index].confidence = max(categories[index].confidence, best)
        } else {
            categories.append(LabelCategory(id: "people", name: "People", confidence: best))
        }
        section.categories = categories.sorted { $0.confidence > $1.confidence }
        labels = section
    }
}
