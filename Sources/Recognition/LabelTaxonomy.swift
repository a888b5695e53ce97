import Foundation

/// Human parent labels for each class ("tabby cat" -> "cat", "animal"), so that a query for
/// "animal" finds every cat and dog, as a cloud label-detection service would report them.
public struct LabelTaxonomy: Sendable {
    /// Parents per class index, nearest first. Empty when the model ships no taxonomy.
    public let parents: [[String]]

    public init(parents: [[String]]) { self.parents = parents }

    /// A taxonomy without parents (a user's own model with only class names).
    public static func flat(classCount: Int) -> LabelTaxonomy {
        LabelTaxonomy(parents: Array(repeating: [], count: classCount))
    }

    private struct Entry: Decodable {
        var index: Int
        var parents: [String]?
        var category: String?
    }

    /// Reads a taxonomy JSON file: either `[{"index":..,"parents":[..]}...]` or
    /// `{"classes": [...]}` with the same entries. Categories are appended if missing.
    public static func load(from url: URL, classCount: Int) throws -> LabelTaxonomy {
        let entries: [Entry]
        do {
            let data = try Data(contentsOf: url)
            if let list = try? JSONDecoder().decode([Entry].self, from: data) {
                entries = list
            } else {
                struct Wrapped: Decodable { var classes: [Entry] }
                entries = try JSONDecoder().decode(Wrapped.self, from: data).classes
            }
        } catch {
            throw RecognitionError.invalidTaxonomy(path: url.path, detail: "\(error)")
        }
        var parents = Array(repeating: [String](), count: classCount)
        for entry in entries where entry.index >= 0 && entry.index < classCount {
            var list = entry.parents ?? []
            if let category = entry.category, !list.contains(category) { list.append(category) }
            parents[entry.index] = list
        }
        return LabelTaxonomy(parents: parents)
    }
}
