import Foundation
import Imaging
import Recognition
import TestSupport
import Testing

/// The real bundled classifier on the real sample photos.
@Suite("Classifier on the sample photos")
struct ClassifierTests {
    static let root = BuiltExecutable.projectRoot()
    static let samples = root.appendingPathComponent("Models/samples")

    /// Loaded once for the suite: building the XNNPACK runtime is the slow part in debug builds.
    static let shared = Result { try Classifier(descriptorURL: root.appendingPathComponent("Models/efficientnet-lite0.json"), threads: 2) }

    static func loadClassifier() throws -> Classifier { try shared.get() }

    static func expectedTopLabels() throws -> [String: [String]] {
        let data = try Data(contentsOf: samples.appendingPathComponent("expected.json"))
        return try JSONDecoder().decode([String: [String]].self, from: data)
    }

    @Test("each sample photo's top label is its obvious class, with parents from the taxonomy")
    func topLabelIsTheObviousClass() throws {
        let classifier = try Self.loadClassifier()
        let expected = try Self.expectedTopLabels()
        #expect(expected.count >= 3)
        let photos = expected.keys.sorted()
        let results = classifier.classify(
            files: photos.map { Self.samples.appendingPathComponent($0).path },
            options: LabelOptions(maxLabels: 5, minConfidence: 1))
        for (photo, result) in zip(photos, results) {
            let classification = try result.get()
            // Parents come first (they are at least as confident); the top *class* is the obvious one.
            let top = try #require(classification.labels.first { classifier.classLabels.contains($0.name) }, "no class label for \(photo)")
            // expected.json names ImageNet classes; a rule may report a class under another label.
            let accepted = expected[photo, default: []].compactMap { name in
                classifier.classNames.firstIndex(of: name).map { classifier.classLabels[$0] }
            }
            #expect(accepted.contains(top.name), "\(photo): top class label \(top.name)")
            #expect(!top.parents.isEmpty, "\(photo): \(top.name) has no parent labels")
            // Confidences are percentages, sorted best first.
            #expect(classification.labels.map(\.confidence) == classification.labels.map(\.confidence).sorted(by: >))
            #expect(classification.labels.allSatisfy { (1...100).contains($0.confidence) })
        }
    }

    @Test("a cat is an animal and coffee a drink: parents come from WordNet and the label rules")
    func parentsNameTheCategory() throws {
        let classifier = try Self.loadClassifier()
        let results = classifier.classify(
            files: ["cat.jpg", "coffee.jpg"].map { Self.samples.appendingPathComponent($0).path },
            options: LabelOptions(maxLabels: 20, minConfidence: 0))
        let cat = try #require(try results[0].get().labels.first { classifier.classLabels.contains($0.name) })
        let coffee = try #require(try results[1].get().labels.first { classifier.classLabels.contains($0.name) })
        #expect(cat.parents.contains("cat"))
        #expect(cat.parents.last == "animal")
        #expect(coffee.parents.last == "drink")
    }

    @Test("a batch gives the same probabilities as images one by one")
    func batchMatchesSingle() throws {
        let classifier = try Self.loadClassifier()
        let pixels = try ["cat.jpg", "coffee.jpg", "rocket.jpg"].map {
            try classifier.preprocessor.pixels(fromFile: Self.samples.appendingPathComponent($0).path)
        }
        let batched = try classifier.probabilities(for: pixels)
        for (index, image) in pixels.enumerated() {
            let single = try classifier.probabilities(for: [image])[0]
            let difference = zip(single, batched[index]).map { abs($0 - $1) }.max() ?? 1
            #expect(difference < 1e-5)
        }
    }

    @Test("--max-labels and --min-confidence bound the labels")
    func labelOptionsBoundTheOutput() throws {
        let classifier = try Self.loadClassifier()
        let path = Self.samples.appendingPathComponent("cat.jpg").path
        let two = try classifier.classify(files: [path], options: LabelOptions(maxLabels: 2, minConfidence: 0))[0].get()
        #expect(two.labels.count == 2)
        let strict = try classifier.classify(files: [path], options: LabelOptions(maxLabels: 10, minConfidence: 20))[0].get()
        #expect(strict.labels.allSatisfy { $0.confidence >= 20 })
        #expect(strict.labels.count < 10)
    }

    @Test("the cat photo reads \"cat\" at 80% or more before any breed, and coffee reads coffee and drink")
    func parentsAreLabelsInTheirOwnRight() throws {
        let classifier = try Self.loadClassifier()
        let results = classifier.classify(
            files: ["cat.jpg", "coffee.jpg"].map { Self.samples.appendingPathComponent($0).path },
            options: LabelOptions(maxLabels: 10, minConfidence: 5))
        let cat = try results[0].get().labels
        let catLabel = try #require(cat.first { $0.name == "cat" }, "\(cat)")
        #expect(catLabel.confidence >= 80)
        #expect(catLabel.parents.last == "animal")
        let breeds = cat.filter { $0.name.hasSuffix(" cat") }
        #expect(!breeds.isEmpty)
        for breed in breeds {
            #expect((cat.firstIndex { $0.name == "cat" } ?? .max) < (cat.firstIndex(of: breed) ?? -1), "\(cat.map(\.name))")
        }
        let coffee = try results[1].get().labels.map(\.name)
        #expect(coffee.contains("coffee") && coffee.contains("drink") && coffee.contains("espresso"), "\(coffee)")
    }

    @Test("a parent's confidence is the summed probability of the classes below it; every reported label's parents are reported too")
    func parentConfidenceIsTheSumOfItsClasses() throws {
        let classifier = try Self.loadClassifier()
        for photo in ["cat.jpg", "coffee.jpg", "rocket.jpg"] {
            let pixels = try classifier.preprocessor.pixels(fromFile: Self.samples.appendingPathComponent(photo).path)
            let probabilities = try classifier.probabilities(for: [pixels])[0]
            let labels = classifier.labels(from: probabilities, options: LabelOptions(maxLabels: 10_000, minConfidence: 0.5))
            let byName = Dictionary(labels.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
            #expect(byName.count == labels.count, "\(photo): a label is reported twice")
            for label in labels {
                let classLabels = classifier.classLabels
                let covered = classifier.classNames.indices.filter {
                    classLabels[$0] == label.name || classifier.taxonomy.parents[$0].contains(label.name)
                }
                // Only classes at the floor or above count.
                let counted = covered.filter { probabilities[$0] >= LabelHierarchy.parentFloor }
                let sum = counted.reduce(0.0) { $0 + Double(probabilities[$1]) } * 100
                #expect(abs(sum - label.confidence) < 0.02, "\(photo): \(label.name) \(label.confidence) vs \(sum)")
                for parent in label.parents {
                    let reported = try #require(byName[parent], "\(photo): \(label.name)'s parent \(parent) is missing")
                    #expect(reported.confidence >= label.confidence)
                }
            }
            #expect(labels.map(\.confidence) == labels.map(\.confidence).sorted(by: >))
        }
    }

    @Test("an unsure network's spread over many classes makes no confident parent")
    func flatDistributionMakesNoParent() {
        // 100 "animal" classes at 0.5% each (50% together) and one car at 20%.
        let names = (0..<100).map { "beast \($0)" } + ["car"]
        let taxonomy = LabelTaxonomy(parents: Array(repeating: ["animal"], count: 100) + [["vehicle"]])
        let hierarchy = LabelHierarchy(classNames: names, taxonomy: taxonomy)
        let labels = hierarchy.labels(from: Array(repeating: 0.005, count: 100) + [0.2], options: LabelOptions(maxLabels: 10, minConfidence: 5))
        #expect(labels.map(\.name) == ["car", "vehicle"], "\(labels)")
    }

    @Test("labels from a hand-made hierarchy: sums, ties go to the more specific label, thresholds cut")
    func handMadeHierarchy() {
        let taxonomy = LabelTaxonomy(parents: [["cat", "animal"], ["cat", "animal"], ["dog", "animal"], []])
        let hierarchy = LabelHierarchy(classNames: ["tabby", "siamese", "beagle", "cup"], taxonomy: taxonomy)
        let labels = hierarchy.labels(from: [0.3, 0.3, 0.1, 0.3], options: LabelOptions(maxLabels: 10, minConfidence: 20))
        // 70, 60, then three at 30: the two with parents first (by name), then "cup".
        #expect(labels.map(\.name) == ["animal", "cat", "siamese", "tabby", "cup"])
        #expect(labels.first { $0.name == "animal" }?.confidence == 70)
        #expect(labels.first { $0.name == "cat" }?.confidence == 60)
        #expect(labels.first { $0.name == "cat" }?.parents == ["animal"])
        #expect(!labels.contains { $0.name == "dog" || $0.name == "beagle" }, "10% is under the 20% threshold")
        let one = hierarchy.labels(from: [1, 0, 0, 0], options: LabelOptions(maxLabels: 3, minConfidence: 0))
        #expect(one.map(\.name) == ["tabby", "cat", "animal"], "on a tie the more specific label comes first")
    }

    @Test("bad files fail alone with a clear error; good ones in the same batch are labelled")
    func badFilesFailAlone() throws {
        let classifier = try Self.loadClassifier()
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let html = temp.url.appendingPathComponent("page.jpg")
        try Data("<!doctype html><html><body>404</body></html>".utf8).write(to: html)
        let empty = temp.url.appendingPathComponent("empty.jpg")
        try Data().write(to: empty)
        let jpeg = try Data(contentsOf: Self.samples.appendingPathComponent("cat.jpg"))
        let truncated = temp.url.appendingPathComponent("truncated.jpg")
        try jpeg.prefix(jpeg.count / 2).write(to: truncated)
        let missing = temp.url.appendingPathComponent("missing.jpg")

        let paths = [html, Self.samples.appendingPathComponent("coffee.jpg"), empty, truncated, missing].map(\.path)
        let results = classifier.classify(files: paths, options: LabelOptions())
        #expect(throws: ImagingError.self) { try results[0].get() }
        #expect(try results[1].get().labels.first { classifier.classLabels.contains($0.name) }?.name == "espresso")
        for index in [2, 3, 4] {
            #expect(throws: ImagingError.self) { try results[index].get() }
        }
        if case .failure(let error) = results[0] { #expect("\(error)".lowercased().contains("html")) }
    }

    @Test("an ONNX file with the wrong class-name file is refused with a clear error")
    func classCountMismatch() throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let names = temp.url.appendingPathComponent("names.txt")
        try "cat\ndog\n".write(to: names, atomically: true, encoding: .utf8)
        #expect {
            try Classifier(
                onnxURL: Self.root.appendingPathComponent("Models/efficientnet-lite0.onnx"), classNamesURL: names,
                taxonomyURL: nil, name: nil, version: nil, input: nil, threads: 1)
        } throws: { error in
            "\(error)".contains("1000 classes") && "\(error)".contains("names 2")
        }
    }

    @Test("a user's own ONNX file loads with its class names; name and version come from its metadata")
    func ownModelWithClassNames() throws {
        let classifier = try Classifier(
            onnxURL: Self.root.appendingPathComponent("Models/efficientnet-lite0.onnx"),
            classNamesURL: Self.root.appendingPathComponent("Models/imagenet-classes.txt"),
            taxonomyURL: nil, name: nil, version: nil, input: nil, threads: 1)
        #expect(classifier.name == "efficientnet-lite0")
        let result = try classifier.classify(
            files: [Self.samples.appendingPathComponent("coffee.jpg").path],
            options: LabelOptions(maxLabels: 1, minConfidence: 0))[0].get()
        #expect(result.labels.first?.name == "espresso")
        #expect(result.labels.first?.parents == [])
    }
}
