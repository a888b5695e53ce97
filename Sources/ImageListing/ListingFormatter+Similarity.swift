import Foundation
import LabelStore
import Presentation

extension ListingFormatter {
    /// Groups of near-duplicates: a table block per group, or JSON `[{"group": n, "images": [...]}]`.
    public func duplicateGroups(_ groups: [[ImageSummary]]) throws -> String {
        struct Group: Encodable {
            var group: Int
            var images: [ImageSummary]
        }
        let numbered = groups.enumerated().map { Group(group: $0.offset + 1, images: $0.element) }
        switch format {
        case .json: return try Self.json(numbered, pretty: true) + "\n"
        case .ndjson: return try numbered.map { try Self.json($0, pretty: false) + "\n" }.joined()
        case .csv:
            var csv = CSVWriter()
            csv.row(["group", "id", "name", "recognized_at", "perceptual_hash", "labels"])
            for group in numbered {
                for image in group.images {
                    csv.row([
                        "\(group.group)", image.id, image.name, Self.iso(image.recognizedAt), image.perceptualHash ?? "",
                        image.labels.prefix(3).map(\.name).joined(separator: ";"),
                    ])
                }
            }
            return csv.text
        case .table:
            var lines: [String] = []
            for group in numbered {
                lines.append("group \(group.group): \(group.images.count) images")
                for image in group.images { lines.append("  " + row(image, extra: image.perceptualHash ?? "")) }
            }
            return lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n"
        }
    }

    /// The images like one image, most similar first.
    public func similar(_ result: SimilarImages) throws -> String {
        struct Line: Encodable {
            var similarity: Double
            var hashDistance: Int?
            var image: ImageSummary
            enum CodingKeys: String, CodingKey {
                case similarity
                case hashDistance = "hash_distance"
                case image
            }
        }
        let lines = result.matches.map { Line(similarity: $0.similarity, hashDistance: $0.hashDistance, image: $0.image) }
        switch format {
        case .json: return try Self.json(lines, pretty: true) + "\n"
        case .ndjson: return try lines.map { try Self.json($0, pretty: false) + "\n" }.joined()
        case .csv:
            var csv = CSVWriter()
            csv.row(["similarity", "hash_distance", "id", "name", "recognized_at", "labels"])
            for line in lines {
                csv.row([
                    Self.number(line.similarity), line.hashDistance.map { "\($0)" } ?? "", line.image.id, line.image.name,
                    Self.iso(line.image.recognizedAt), line.image.labels.prefix(3).map(\.name).joined(separator: ";"),
                ])
            }
            return csv.text
        case .table:
            var text = "like " + row(result.image.image, extra: "") + "\n"
            text += TextColumns.padLeft("SIMILAR", 7) + "  " + TextColumns.padLeft("BITS", 4) + "  ID            NAME / LABELS\n"
            for line in lines {
                text +=
                    TextColumns.padLeft(String(format: "%.2f", line.similarity), 7) + "  "
                    + TextColumns.padLeft(line.hashDistance.map { "\($0)" } ?? "-", 4) + "  " + row(line.image, extra: "") + "\n"
            }
            return text
        }
    }

    /// One image on one line: id prefix, name, top labels.
    func row(_ image: ImageSummary, extra: String) -> String {
        let labels = image.labels.prefix(3).map { "\($0.name) \(Self.percent($0.confidence))" }.joined(separator: ", ")
        let line =
            String(image.id.prefix(12)) + "  " + image.name + (labels.isEmpty ? "" : "  (" + labels + ")") + (extra.isEmpty ? "" : "  " + extra)
        return TextColumns.truncate(line, to: max(20, width - 2))
    }
}
