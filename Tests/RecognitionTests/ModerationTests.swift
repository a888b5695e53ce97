import Foundation
import Imaging
import PipelineModel
import Testing

@testable import Recognition

/// Moderation: open_nsfw on our engine and the labels made from it and from the classifier.
@Suite("Moderation")
struct ModerationTests {
    static let shared = Result { try ModerationModel(threads: 2) }

    @Test("every bundled sample is safe at the default threshold; the labels analysis adds class-based labels")
    func samplesAreSafe() throws {
        let classifier = try ClassifierTests.loadClassifier()
        let network = try Self.shared.get()
        let photos = try FileManager.default.contentsOfDirectory(atPath: ClassifierTests.samples.path)
            .filter { $0.hasSuffix(".jpg") || $0.hasSuffix(".png") }.sorted()
        #expect(photos.count >= 7)
        let images = try photos.map { AnalysisImage(data: try Data(contentsOf: ClassifierTests.samples.appendingPathComponent($0)), path: $0) }
        // Labels first, as the recognizer orders them: moderation reads the kept probabilities.
        _ = LabelAnalyzer(classifier: classifier, options: LabelOptions()).analyze(images)
        let outputs = ModerationAnalyzer(network: network, classifier: classifier).analyze(images)
        for (photo, output) in zip(photos, outputs) {
            guard case .moderation(let section) = try output.get().section else {
                Issue.record("\(photo): not a moderation section")
                continue
            }
            #expect(!section.isUnsafe, "\(photo): \(section.labels)")
            #expect(section.nsfwScore < 5, "\(photo): nsfw \(section.nsfwScore)")
            #expect(section.minConfidence == 50)
        }
        // Below the threshold the labels are still computed: at 0 every one is reported.
        let all = ModerationAnalyzer(network: network, minConfidence: 0, classifier: classifier).analyze([images[0]])
        guard case .moderation(let everything) = try #require(all.first).get().section else { return }
        #expect(Set(everything.labels.map(\.name)).isSuperset(of: ["Explicit", "Violence", "Weapons", "Swimwear or Underwear", "Alcohol"]))
    }

    @Test("the class rules name real classes; level-1 labels sum their level-2 ones and come first")
    func taxonomy() throws {
        let names = try ClassifierTests.loadClassifier().classNames
        for rule in ModerationTaxonomy.classRules {
            for name in rule.classes { #expect(names.contains(name), "\(rule.name): no class '\(name)'") }
        }
        var probabilities = [Float](repeating: 0, count: names.count)
        probabilities[try #require(names.firstIndex(of: "revolver"))] = 0.6
        probabilities[try #require(names.firstIndex(of: "rifle"))] = 0.2
        probabilities[try #require(names.firstIndex(of: "bikini"))] = 0.1
        let labels = ModerationTaxonomy.labels(nsfw: 0.05, probabilities: probabilities, classNames: names)
        let byName = Dictionary(uniqueKeysWithValues: labels.map { ($0.name, $0) })
        #expect(byName["Weapons"]?.confidence == 80 && byName["Weapons"]?.parentName == "Violence" && byName["Weapons"]?.taxonomyLevel == 2)
        #expect(byName["Violence"]?.confidence == 80 && byName["Violence"]?.taxonomyLevel == 1)
        #expect(byName["Swimwear or Underwear"]?.confidence == 10)
        #expect(byName["Explicit"]?.confidence == 5)
        #expect(labels.prefix(2).map(\.name) == ["Violence", "Weapons"])
        // Without the classifier only open_nsfw's label.
        #expect(ModerationTaxonomy.labels(nsfw: 0.9, probabilities: nil, classNames: names).map(\.name) == ["Explicit"])
    }

    @Test("--precision: the INT8 file reports its version and the scores of fp32 within a point")
    func precision() throws {
        let fp32 = try ModerationModel(threads: 2, precision: .fp32)
        #expect(fp32.model.version == fp32.descriptor.version)
        #expect(fp32.descriptor.int8 == "open-nsfw-int8.onnx")
        // Only where the INT8 kernels run (AVX2); elsewhere the file still runs, on its fp32 emulation.
        let int8 = try ModerationModel(threads: 2, precision: .int8)
        #expect(int8.model.version == fp32.descriptor.version + "-int8")
        let golden = ClassifierTests.samples.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Tests/Fixtures/golden")
        for name in ["astronaut.jpg", "coffee.jpg", "grace-hopper.jpg"] {
            let rgb = [UInt8](try Data(contentsOf: golden.appendingPathComponent("\(name).rgb")))
            let (a, b) = (try fp32.nsfwProbability(rgb: rgb), try int8.nsfwProbability(rgb: rgb))
            #expect(abs(a - b) <= 0.01, "\(name): fp32 \(a), int8 \(b)")
        }
    }
}
