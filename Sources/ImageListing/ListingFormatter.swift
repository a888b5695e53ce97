import Foundation
import LabelStore
import PipelineModel
import Presentation

/// Turns store results into `list-images` output text in each `OutputFormat`.
public struct ListingFormatter: Sendable {
    public var format: OutputFormat
    /// Columns available to a table row.
    public var width: Int
    /// Zone of the times shown in tables (JSON and CSV are always UTC).
    public var timeZone: TimeZone

    /// A formatter for one output format and width.
    public init(format: OutputFormat, width: Int = TerminalWidth.fallback, timeZone: TimeZone = .current) {
        self.format = format
        self.width = width
        self.timeZone = timeZone
    }

    // MARK: Image listings

    /// The listing of `images`; `showMatch` adds the match-confidence column to tables.
    public func images(_ images: [ImageSummary], showMatch: Bool = false) throws -> String {
        switch format {
        case .json: return try Self.json(images, pretty: true) + "\n"
        case .ndjson: return try images.map { try Self.json($0, pretty: false) + "\n" }.joined()
        case .csv:
            var csv = CSVWriter()
            // The first 15 columns are the original ones, in their order; later columns are appended.
            csv.row(Self.csvColumns)
            for image in images {
                let properties = image.properties
                csv.row([
                    image.id, image.name, image.sourceURL, image.storedPath, "\(image.byteSize)", image.contentType,
                    "\(image.width)", "\(image.height)", Self.iso(image.fetchedAt), Self.iso(image.recognizedAt),
                    image.notifiedAt.map(Self.iso) ?? "", image.modelName, image.modelVersion,
                    image.labels.map { "\($0.name):\(Self.number($0.confidence))" }.joined(separator: ";"),
                    image.matchConfidence.map(Self.number) ?? "",
                    image.categories.map { "\($0.id):\(Self.number($0.confidence))" }.joined(separator: ";"),
                    properties.map { Self.number($0.brightness) } ?? "", properties.map { Self.number($0.contrast) } ?? "",
                    properties.map { Self.number($0.sharpness) } ?? "",
                    properties?.colors.map { "\($0.simpleName) \($0.hex):\(Self.number($0.share))" }.joined(separator: ";") ?? "",
                    image.faces.map { "\($0.count)" } ?? "", image.moderation.map { $0.isUnsafe ? "unsafe" : "safe" } ?? "",
                    image.moderation?.labels.map { "\($0.name):\(Self.number($0.confidence))" }.joined(separator: ";") ?? "",
                    image.text.map { $0.lines.map(\.text).joined(separator: " / ") } ?? "",
                ])
            }
            return csv.text
        case .table:
            guard !images.isEmpty else { return "" }
            // The name column gives way first when the terminal is narrow; labels keep at least 12.
            let otherColumns = 12 + 2 + 16 + 2 + (showMatch ? 5 + 2 : 0) + 2
            let nameWidth = max(4, min(24, images.map(\.name.count).max() ?? 4, width - otherColumns - 12))
            var header = [TextColumns.pad("ID", 12), TextColumns.pad("RECOGNIZED", 16), TextColumns.pad("NAME", nameWidth)]
            if showMatch { header.insert("MATCH", at: 1) }
            let labelsWidth = max(12, width - otherColumns - nameWidth)
            var lines = [(header + ["LABELS"]).joined(separator: "  ")]
            for image in images {
                var cells = [
                    String(image.id.prefix(12)), TextColumns.pad(localMinute(image.recognizedAt), 16),
                    TextColumns.pad(TextColumns.truncate(image.name, to: nameWidth), nameWidth),
                ]
                if showMatch { cells.insert(TextColumns.pad(image.matchConfidence.map(Self.percent) ?? "", 5), at: 1) }
                let labels = image.labels.map { "\($0.name) \(Self.percent($0.confidence))" }
                lines.append((cells + [TextColumns.joinFitting(labels, width: labelsWidth)]).joined(separator: "  "))
            }
            return lines.joined(separator: "\n") + "\n"
        }
    }

    /// The header of `list --format csv` (docs/LIST-IMAGES.md).
    static let csvColumns = [
        "id", "name", "source_url", "stored_path", "byte_size", "content_type", "width", "height", "fetched_at", "recognized_at",
        "notified_at", "model_name", "model_version", "labels", "match_confidence", "categories", "brightness", "contrast",
        "sharpness", "colors", "faces", "moderation", "moderation_labels", "text",
    ]

    // MARK: One image

    /// Everything about one image.
    public func detail(_ image: ImageDetail) throws -> String {
        switch format {
        case .json: return try Self.json(image, pretty: true) + "\n"
        case .ndjson: return try Self.json(image, pretty: false) + "\n"
        case .csv:
            // One row per label, the image's fields repeated, so the file loads as one table.
            var csv = CSVWriter()
            csv.row([
                "id", "name", "source_url", "stored_path", "fetched_at", "recognized_at", "notified_at",
                "rank", "label", "confidence", "parents",
            ])
            let labels = image.labels.isEmpty ? [nil] : image.labels.map(Optional.some)
            for (rank, label) in labels.enumerated() {
                csv.row([
                    image.id, image.name, image.sourceURL, image.storedPath, Self.iso(image.fetchedAt),
                    Self.iso(image.recognizedAt), image.notifiedAt.map(Self.iso) ?? "",
                    label == nil ? "" : "\(rank)", label?.name ?? "", label.map { Self.number($0.confidence) } ?? "",
                    label?.parents.joined(separator: ";") ?? "",
                ])
            }
            return csv.text
        case .table:
            var lines: [(String, String)] = [
                ("id", image.id),
                ("name", image.name),
                ("source", image.sourceURL),
                ("stored", image.storedPath),
                ("image", "\(image.width)x\(image.height) \(image.contentType), \(image.byteSize) bytes"),
                ("model", "\(image.modelName) \(image.modelVersion)"),
                ("fetched", localSecond(image.fetchedAt)),
                ("recognized", localSecond(image.recognizedAt) + Self.after(image.recognizedAt, image.fetchedAt, "fetch")),
                ("notified", image.notifiedAt.map { localSecond($0) + Self.after($0, image.recognizedAt, "recognition") } ?? "not yet"),
            ]
            lines.append(("labels", image.labels.isEmpty ? "none" : ""))
            var text = lines.map { (TextColumns.pad($0.0 + ":", 12) + $0.1).trimmingCharacters(in: .whitespaces) }.joined(separator: "\n")
            for label in image.labels {
                let parents = label.parents.isEmpty ? "" : "  (" + label.parents.joined(separator: " > ") + ")"
                text += "\n  " + TextColumns.padLeft(Self.number1(label.confidence) + "%", 7) + "  " + label.name + parents
            }
            if !image.categories.isEmpty {
                text +=
                    "\n" + TextColumns.pad("categories:", 12)
                    + image.categories.map { "\($0.name) (\($0.id)) \(Self.percent($0.confidence))" }.joined(separator: ", ")
            }
            if let properties = image.properties {
                text +=
                    "\n" + TextColumns.pad("look:", 12)
                    + String(
                        format: "brightness %.0f, contrast %.0f, sharpness %.0f (0-100)", properties.brightness, properties.contrast,
                        properties.sharpness)
                text += "\n" + TextColumns.pad("colours:", 12) + (properties.colors.isEmpty ? "none" : "")
                for color in properties.colors {
                    text += "\n  " + TextColumns.padLeft(Self.percent(color.share), 7) + "  \(color.hex)  \(color.simpleName) (\(color.cssName))"
                }
            }
            if let hash = image.perceptualHash { text += "\n" + TextColumns.pad("phash:", 12) + hash + "  (list-images duplicates / similar)" }
            if let faces = image.faces {
                text += "\n" + TextColumns.pad("faces:", 12) + (faces.isEmpty ? "none" : "\(faces.count)")
                for face in faces {
                    let box = face.box
                    text +=
                        "\n  " + TextColumns.padLeft(Self.number1(face.confidence) + "%", 7)
                        + String(
                            format: "  box left %.3f top %.3f width %.3f height %.3f", box.left, box.top, box.width, box.height)
                }
            }
            if let moderation = image.moderation {
                text +=
                    "\n" + TextColumns.pad("moderation:", 12)
                    + (moderation.isUnsafe ? "UNSAFE" : "safe")
                    + String(format: " (nsfw score %.1f%%, labels from %.0f%%)", moderation.nsfwScore, moderation.minConfidence)
                for label in moderation.labels {
                    let parent = label.parentName.isEmpty ? "" : "  (\(label.parentName))"
                    text += "\n  " + TextColumns.padLeft(Self.number1(label.confidence) + "%", 7) + "  " + label.name + parent
                }
            }
            if let section = image.text {
                let lines = section.lines
                text += "\n" + TextColumns.pad("text:", 12) + (lines.isEmpty ? "none" : "\(lines.count) lines, \(section.words.count) words")
                if section.truncated { text += " (more left out by --max-words)" }
                for line in lines {
                    let box = line.box
                    text +=
                        "\n  " + TextColumns.padLeft(Self.number1(line.confidence) + "%", 7) + "  \"" + line.text + "\""
                        + String(format: "  at %.3f,%.3f size %.3f x %.3f", box.left, box.top, box.width, box.height)
                }
            }
            return text + "\n"
        }
    }

    // MARK: Label counts

    /// Terms with their image counts.
    public func labelCounts(_ counts: [LabelCount]) throws -> String {
        switch format {
        case .json: return try Self.json(counts, pretty: true) + "\n"
        case .ndjson: return try counts.map { try Self.json($0, pretty: false) + "\n" }.joined()
        case .csv:
            var csv = CSVWriter()
            csv.row(["term", "image_count"])
            for count in counts { csv.row([count.term, "\(count.imageCount)"]) }
            return csv.text
        case .table:
            guard !counts.isEmpty else { return "" }
            let countWidth = max(6, "\(counts.map(\.imageCount).max() ?? 0)".count)
            var lines = [TextColumns.padLeft("IMAGES", countWidth) + "  LABEL"]
            for count in counts {
                lines.append(
                    TextColumns.padLeft("\(count.imageCount)", countWidth) + "  "
                        + TextColumns.truncate(count.term, to: max(10, width - countWidth - 2)))
            }
            return lines.joined(separator: "\n") + "\n"
        }
    }

    // MARK: Helpers

    /// The JSON the pipeline's messages use too: ISO-8601 UTC dates with milliseconds, sorted keys.
    static func json<T: Encodable>(_ value: T, pretty: Bool) throws -> String {
        let encoder = MessageCoding.encoder()
        if pretty { encoder.outputFormatting.insert(.prettyPrinted) }
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func iso(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }

    /// Shortest decimal that reads back as the same Double, without a trailing ".0".
    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : "\(value)"
    }

    static func number1(_ value: Double) -> String { String(format: "%.1f", value) }

    static func percent(_ value: Double) -> String {
        value > 0 && value < 1 ? "<1%" : "\(Int(value.rounded()))%"
    }

    func localMinute(_ date: Date) -> String { Self.local(date, timeZone, "yyyy-MM-dd HH:mm") }
    func localSecond(_ date: Date) -> String { Self.local(date, timeZone, "yyyy-MM-dd HH:mm:ss.SSS ZZZZZ") }

    static func local(_ date: Date, _ zone: TimeZone, _ pattern: String) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = zone
        formatter.dateFormat = pattern
        return formatter.string(from: date)
    }

    static func after(_ later: Date, _ earlier: Date, _ what: String) -> String {
        let seconds = later.timeIntervalSince(earlier)
        guard seconds >= 0 else { return "" }
        return seconds < 1
            ? String(format: "  (%.0f ms after %@)", seconds * 1000, what)
            : String(format: "  (%.1f s after %@)", seconds, what)
    }
}
