import Foundation
import PipelineModel

/// A subject line with `{placeholder}`s filled from the labelled image, e.g.
/// `"Labels for {name}: {labels}"`. `{{` and `}}` stand for literal braces.
public struct SubjectTemplate: Sendable, Equatable {
    /// The placeholders a template may use, with what they stand for.
    public static let placeholders: [(name: String, meaning: String)] = [
        ("name", "the image's name"),
        ("labels", "all label names, comma-separated, most confident first"),
        ("top", "the most confident label"),
        ("confidence", "its confidence, e.g. 93.1"),
        ("count", "how many labels"),
        ("id", "the image id (SHA-256)"),
        ("source", "the URL the image came from"),
        ("model", "model name and version"),
    ]

    private enum Piece: Sendable, Equatable {
        case literal(String)
        case placeholder(String)
    }

    /// The template as given.
    public let text: String
    private let pieces: [Piece]

    /// Parses a template; unknown placeholders and unbalanced braces are errors.
    public init(_ text: String) throws {
        self.text = text
        var pieces: [Piece] = []
        var literal = ""
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            let next = text.index(after: index)
            if character == "{", next < text.endIndex, text[next] == "{" {
                literal.append("{")
                index = text.index(after: next)
            } else if character == "}", next < text.endIndex, text[next] == "}" {
                literal.append("}")
                index = text.index(after: next)
            } else if character == "{" {
                guard let close = text[next...].firstIndex(of: "}") else {
                    throw NotificationError.invalidSettings(detail: "subject template \"\(text)\" has a { without }; write {{ for a literal brace")
                }
                let name = String(text[next..<close])
                guard Self.placeholders.contains(where: { $0.name == name }) else {
                    let known = Self.placeholders.map { "{\($0.name)}" }.joined(separator: ", ")
                    throw NotificationError.invalidSettings(detail: "subject template uses unknown placeholder {\(name)}; known: \(known)")
                }
                if !literal.isEmpty { pieces.append(.literal(literal)) }
                literal = ""
                pieces.append(.placeholder(name))
                index = text.index(after: close)
            } else if character == "}" {
                throw NotificationError.invalidSettings(detail: "subject template \"\(text)\" has a } without {; write }} for a literal brace")
            } else {
                literal.append(character)
                index = next
            }
        }
        if !literal.isEmpty { pieces.append(.literal(literal)) }
        self.pieces = pieces
    }

    /// Fills the placeholders for one labelled image.
    public func render(_ labeled: ImageLabeled) -> String {
        pieces.map { piece in
            switch piece {
            case .literal(let text): return text
            case .placeholder(let name): return Self.value(of: name, for: labeled)
            }
        }.joined()
    }

    private static func value(of placeholder: String, for labeled: ImageLabeled) -> String {
        switch placeholder {
        case "name": return labeled.name
        case "labels": return labeled.labels.isEmpty ? "no labels" : labeled.labels.map(\.name).joined(separator: ", ")
        case "top": return labeled.labels.first?.name ?? "no label"
        case "confidence": return labeled.labels.first.map { String(format: "%.1f", $0.confidence) } ?? "0"
        case "count": return String(labeled.labels.count)
        case "id": return labeled.imageID
        case "source": return labeled.sourceURL
        case "model": return "\(labeled.model.name) \(labeled.model.version)"
        default: return ""
        }
    }
}
