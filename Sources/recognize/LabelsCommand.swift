import ArgumentParser
import CLISupport
import Foundation
import Recognition
import RecognitionOptions

/// `recognize labels`: what the model can report, so that filters and searches use real names.
struct LabelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "labels",
        abstract: "List the labels (with aliases, parents and categories) or the categories the model reports.")

    enum Format: String, ExpressibleByArgument, CaseIterable { case table, json }

    @OptionGroup var model: ModelOptions

    @Flag(help: "List the categories (id and name) instead of the labels.")
    var categories = false

    @Option(help: ArgumentHelp("Only labels of this category id.", valueName: "id"))
    var category: String?

    @Option(help: "Output format: table or json (one object per line).")
    var format: Format = .table

    func run() throws {
        let classifier = try model.loadClassifier()
        let hierarchy = classifier.hierarchy
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        if categories {
            for category in hierarchy.categories {
                switch format {
                case .table: print("\(category.id.padding(toLength: 16, withPad: " ", startingAt: 0))  \(category.name)")
                case .json: print(String(decoding: try encoder.encode(["id": category.id, "name": category.name]), as: UTF8.self))
                }
            }
            return
        }
        if let category, !hierarchy.categories.contains(where: { $0.id == category }) {
            throw ValidationError("unknown category '\(category)'; choose from \(hierarchy.categories.map(\.id).joined(separator: ", "))")
        }
        for term in hierarchy.terms where term.reported && (category.map { term.categories.contains($0) } ?? true) {
            switch format {
            case .table:
                var line = term.name
                if !term.aliases.isEmpty { line += " (also: \(term.aliases.joined(separator: ", ")))" }
                if !term.parents.isEmpty { line += " < " + term.parents.joined(separator: " < ") }
                if !term.categories.isEmpty { line += "  [\(term.categories.joined(separator: ", "))]" }
                if term.threshold > 0 { line += String(format: "  from %.0f%%", term.threshold) }
                print(line)
            case .json:
                print(String(decoding: try encoder.encode(TermLine(term)), as: UTF8.self))
            }
        }
    }

    struct TermLine: Encodable {
        var name: String
        var aliases: [String]
        var parents: [String]
        var categories: [String]
        var threshold: Double?
        init(_ term: LabelHierarchy.Term) {
            (name, aliases, parents, categories) = (term.name, term.aliases, term.parents, term.categories)
            threshold = term.threshold > 0 ? term.threshold : nil
        }
    }
}
