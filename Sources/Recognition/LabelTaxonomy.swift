import Foundation

/// What a person would call each class and where it belongs: display label, aliases, parent
/// labels ("tabby cat" -> "cat", "pet", "animal"), user-facing categories, and the reviewed
/// per-class rules (a threshold, or "never on its own"), read from the model's taxonomy file
/// (`Models/imagenet-taxonomy.json`, built from `Models/label-rules.json`).
public struct LabelTaxonomy: Sendable {
    /// One class's entry.
    public struct ClassEntry: Sendable, Equatable {
        /// The label reported for the class; nil for the class name itself.
        public var label: String?
        /// Other names the class is found by.
        public var aliases: [String]
        /// Parent labels, nearest first.
        public var parents: [String]
        /// Category ids, the main one first.
        public var categories: [String]
        /// The class's label is reported only at this confidence (0-100) or above.
        public var threshold: Double
        /// False for a class that counts towards its parents but is never reported itself.
        public var reported: Bool

        public init(
            label: String? = nil, aliases: [String] = [], parents: [String], categories: [String] = [], threshold: Double = 0,
            reported: Bool = true
        ) {
            self.label = label
            self.aliases = aliases
            self.parents = parents
            self.categories = categories
            self.threshold = threshold
            self.reported = reported
        }
    }

    /// A user-facing category.
    public struct Category: Sendable, Equatable {
        public var id: String
        public var name: String
        public init(id: String, name: String) {
            self.id = id
            self.name = name
        }
    }

    /// Per class index. Empty parents when the model ships no taxonomy.
    public let classes: [ClassEntry]
    /// The categories, in display order; empty without a category taxonomy.
    public let categories: [Category]

    public init(classes: [ClassEntry], categories: [Category] = []) {
        self.classes = classes
        self.categories = categories
    }

    /// A taxonomy of parents only (no categories or rules).
    public init(parents: [[String]]) {
        self.init(classes: parents.map { ClassEntry(parents: $0) })
    }

    /// Parent labels per class index, nearest first.
    public var parents: [[String]] { classes.map(\.parents) }

    /// A taxonomy without parents (a user's own model with only class names).
    public static func flat(classCount: Int) -> LabelTaxonomy {
        LabelTaxonomy(parents: Array(repeating: [], count: classCount))
    }

    private struct Entry: Decodable {
        var index: Int
        var label: String?
        var aliases: [String]?
        var parents: [String]?
        var categories: [String]?
        /// Format 1: one category name, also the last parent.
        var category: String?
        var threshold: Double?
        var report: Bool?
    }

    private struct File: Decodable {
        struct CategoryEntry: Decodable {
            var id: String
            var name: String
        }
        var format: Int?
        var categories: [CategoryEntry]?
        var classes: [Entry]
    }

    /// Reads a taxonomy JSON file: `{"format": 2, "categories": [...], "classes": [...]}` as
    /// `Scripts/convert-model` writes it, or the older `{"classes": [...]}` / `[...]` with a
    /// `category` name per class (appended to its parents, as before).
    public static func load(from url: URL, classCount: Int) throws -> LabelTaxonomy {
        let file: File
        do {
            let data = try Data(contentsOf: url)
            if let list = try? JSONDecoder().decode([Entry].self, from: data) {
                file = File(format: 1, categories: nil, classes: list)
            } else {
                file = try JSONDecoder().decode(File.self, from: data)
            }
        } catch {
            throw RecognitionError.invalidTaxonomy(path: url.path, detail: "\(error)")
        }
        let categories = (file.format ?? 1) >= 2 ? (file.categories ?? []).map { Category(id: $0.id, name: $0.name) } : []
        let known = Set(categories.map(\.id))
        var classes = Array(repeating: ClassEntry(parents: []), count: classCount)
        for entry in file.classes where entry.index >= 0 && entry.index < classCount {
            var parents = entry.parents ?? []
            if categories.isEmpty, let category = entry.category, !parents.contains(category) { parents.append(category) }
            let named = entry.categories ?? []
            if let unknown = named.first(where: { !known.contains($0) }) {
                throw RecognitionError.invalidTaxonomy(path: url.path, detail: "class \(entry.index) names unknown category '\(unknown)'")
            }
            classes[entry.index] = ClassEntry(
                label: entry.label, aliases: entry.aliases ?? [], parents: parents, categories: named,
                threshold: entry.threshold ?? 0, reported: entry.report ?? true)
        }
        return LabelTaxonomy(classes: classes, categories: categories)
    }
}
