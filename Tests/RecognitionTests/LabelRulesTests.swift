import Foundation
import Recognition
import TestSupport
import Testing

/// The reviewed label rules (Models/label-rules.json, applied into Models/imagenet-taxonomy.json):
/// the invariants the hierarchy relies on, and what a person expects a photo of a class to carry.
@Suite("Label rules and categories")
struct LabelRulesTests {
    static let root = BuiltExecutable.projectRoot()
    static let shared = Result { () throws -> (names: [String], taxonomy: LabelTaxonomy, hierarchy: LabelHierarchy) in
        let names = try String(contentsOf: root.appendingPathComponent("Models/imagenet-classes.txt"), encoding: .utf8)
            .split(separator: "\n").map(String.init)
        let taxonomy = try LabelTaxonomy.load(from: root.appendingPathComponent("Models/imagenet-taxonomy.json"), classCount: names.count)
        return (names, taxonomy, LabelHierarchy(classNames: names, taxonomy: taxonomy))
    }

    /// The labels reported for an image that is certainly `className`.
    static func labels(certainly className: String, options: LabelOptions = LabelOptions(maxLabels: 100, minConfidence: 0)) throws
        -> [RecognizedLabel]
    {
        let (names, _, hierarchy) = try shared.get()
        let index = try #require(names.firstIndex(of: className), "no class \(className)")
        var probabilities = [Float](repeating: 0, count: names.count)
        probabilities[index] = 1
        return hierarchy.labels(from: probabilities, options: options)
    }

    @Test("every class reaches a known category; 10 to 20 categories")
    func everyClassHasACategory() throws {
        let (names, taxonomy, _) = try Self.shared.get()
        #expect((10...20).contains(taxonomy.categories.count), "\(taxonomy.categories.map(\.id))")
        let ids = Set(taxonomy.categories.map(\.id))
        #expect(ids.count == taxonomy.categories.count)
        #expect(taxonomy.classes.count == names.count)
        for (name, entry) in zip(names, taxonomy.classes) {
            #expect(!entry.categories.isEmpty && Set(entry.categories).isSubset(of: ids), "\(name): \(entry.categories)")
        }
    }

    @Test("no cycles: a label is never both above and below another")
    func noCycles() throws {
        let (names, taxonomy, _) = try Self.shared.get()
        var above: [String: Set<String>] = [:]
        for (name, entry) in zip(names, taxonomy.classes) {
            let chain = [entry.label ?? name] + entry.parents
            for (position, node) in chain.enumerated() { above[node, default: []].formUnion(chain[(position + 1)...]) }
        }
        for (node, ups) in above {
            for up in ups { #expect(!(above[up]?.contains(node) ?? false), "\(node) is above and below \(up)") }
            #expect(!ups.contains(node), "\(node) is its own parent")
        }
    }

    @Test("labels are unique, and an alias names one label only and never another class's label")
    func aliasesAreUnique() throws {
        let (names, taxonomy, _) = try Self.shared.get()
        let labels = zip(names, taxonomy.classes).map { ($1.label ?? $0).lowercased() }
        #expect(Set(labels).count == labels.count)
        var owner: [String: String] = [:]
        for (label, entry) in zip(labels, taxonomy.classes) {
            for alias in entry.aliases.map({ $0.lowercased() }) {
                #expect(owner[alias] == nil || owner[alias] == label, "alias \(alias) of \(label) and \(owner[alias] ?? "")")
                owner[alias] = label
                #expect(!labels.contains(alias) || alias == label, "alias \(alias) of \(label) is another class's label")
            }
        }
    }

    @Test(
        "what a person would write for a photo of the class",
        arguments: [
            ("pot", "flowerpot", ["plant"], "plants"),
            ("steam locomotive", "steam locomotive", ["train", "vehicle"], "vehicles"),
            ("seashore", "seashore", ["beach"], "nature"),
            ("convertible", "convertible", ["car", "vehicle"], "vehicles"),
            ("cab", "taxi", ["car"], "vehicles"),
            ("pizza", "pizza", ["food"], "food-and-drink"),
            ("jersey", "T-shirt", ["clothing"], "clothing"),
            ("tabby cat", "tabby cat", ["cat", "pet", "animal"], "animals"),
            ("beagle", "beagle", ["dog", "pet", "mammal"], "animals"),
            ("tusker", "tusker", ["elephant"], "animals"),
            ("cock", "rooster", ["chicken", "bird"], "animals"),
            ("grand piano", "grand piano", ["piano", "musical instrument"], "music"),
            ("laptop computer", "laptop", ["computer"], "electronics"),
            ("passenger car", "railway carriage", ["train"], "vehicles"),
            ("agaric", "agaric", ["mushroom", "fungus"], "plants"),
            ("cellular telephone", "mobile phone", ["telephone"], "electronics"),
        ] as [(String, String, [String], String)])
    func personalLabels(className: String, label: String, ancestors: [String], category: String) throws {
        let labels = try Self.labels(certainly: className)
        let own = try #require(labels.first { $0.name == label }, "\(className): \(labels.map(\.name))")
        for ancestor in ancestors {
            #expect(own.parents.contains(ancestor), "\(label): parents \(own.parents)")
            #expect(labels.contains { $0.name == ancestor && $0.confidence == 100 })
        }
        #expect(own.categories?.contains(category) ?? false, "\(label): \(own.categories ?? [])")
    }

    @Test("WordNet's mistakes stay fixed: a car is no container, a lynx no house cat, a menu no food")
    func wrongParentsAreGone() throws {
        #expect(!(try Self.labels(certainly: "sports car")).contains { $0.name == "container" })
        #expect(!(try Self.labels(certainly: "lynx")).contains { $0.name == "cat" || $0.name == "pet" })
        #expect(!(try Self.labels(certainly: "menu")).contains { $0.name == "food" })
        // The vehicle class named "amphibian" no longer adds to the frogs' "amphibian".
        let frogs = try Self.labels(certainly: "amphibian")
        #expect(!frogs.contains { $0.name == "amphibian" }, "\(frogs.map(\.name))")
    }

    @Test("a class never reported on its own still counts for its parents; a per-label threshold cuts only that label")
    func reportFalseAndThresholds() throws {
        let notebook = try Self.labels(certainly: "notebook computer")
        #expect(!notebook.contains { $0.name == "notebook computer" })
        #expect(notebook.contains { $0.name == "laptop" && $0.confidence == 100 })

        let (names, taxonomy, hierarchy) = try Self.shared.get()
        let revolver = try #require(names.firstIndex(of: "revolver"))
        #expect(taxonomy.classes[revolver].threshold >= 25)
        var probabilities = [Float](repeating: 0, count: names.count)
        probabilities[revolver] = 0.2
        let labels = hierarchy.labels(from: probabilities, options: LabelOptions(maxLabels: 10, minConfidence: 5))
        #expect(!labels.contains { $0.name == "revolver" })
        #expect(labels.contains { $0.name == "gun" && $0.confidence == 20 })
    }

    @Test("categories sum their classes; include and exclude filters by label and by category")
    func filters() throws {
        let (names, _, hierarchy) = try Self.shared.get()
        var probabilities = [Float](repeating: 0, count: names.count)
        probabilities[try #require(names.firstIndex(of: "tabby cat"))] = 0.6
        probabilities[try #require(names.firstIndex(of: "beagle"))] = 0.2
        probabilities[try #require(names.firstIndex(of: "sports car"))] = 0.2
        let all = LabelOptions(maxLabels: 100, minConfidence: 1)
        let categories = hierarchy.categories(from: probabilities, options: all)
        #expect(categories.map(\.id) == ["animals", "vehicles"])
        #expect(categories.first?.confidence == 80)

        func kept(_ filter: LabelFilter) -> [String] {
            hierarchy.labels(from: probabilities, options: LabelOptions(maxLabels: 100, minConfidence: 1, filter: filter)).map(\.name)
        }
        #expect(Set(kept(LabelFilter(includeLabels: ["cat"]))) == ["cat", "tabby cat"])
        #expect(Set(kept(LabelFilter(includeLabels: ["Taxicab", "sports car"]))) == ["sports car"], "an alias names its label")
        let noPets = kept(LabelFilter(excludeLabels: ["pet"]))
        #expect(!noPets.contains("cat") && !noPets.contains("beagle") && !noPets.contains("pet") && noPets.contains("sports car"))
        #expect(noPets.contains("animal"), "a parent of an excluded label stays")
        let vehicles = kept(LabelFilter(includeCategories: ["vehicles"]))
        #expect(vehicles.contains("sports car") && vehicles.contains("car") && !vehicles.contains("cat"))
        let noAnimals = kept(LabelFilter(excludeCategories: ["animals"]))
        #expect(!noAnimals.contains("animal") && !noAnimals.contains("beagle") && noAnimals.contains("vehicle"))
        #expect(
            hierarchy.categories(from: probabilities, options: LabelOptions(minConfidence: 1, filter: LabelFilter(excludeCategories: ["animals"])))
                .map(\.id) == ["vehicles"])
    }
}
