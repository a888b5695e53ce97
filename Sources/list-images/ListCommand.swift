import ArgumentParser
import CLISupport
import Foundation
import ImageListing
import LabelStore
import PipelineModel
import Presentation

/// The default subcommand: images matching filters, newest first.
struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List images and their labels (the default subcommand).")

    @Option(name: .customLong("label"), help: ArgumentHelp("Label or parent label, case-insensitive; repeatable.", valueName: "name"))
    var labels: [String] = []
    @Flag var labelMatch: ImageQuery.LabelMatch = .any
    @Option(help: ArgumentHelp("Lowest confidence (0-100) of the matching label (without --label: of the top label).", valueName: "percent"))
    var minConfidence: Double?
    @Option(help: ArgumentHelp("Recognized at or after: 30m, 2h, 7d, 2026-11-22, 2026-11-22T08:30[Z].", valueName: "time"))
    var since: String?
    @Option(help: ArgumentHelp("Recognized before (same forms as --since).", valueName: "time"))
    var until: String?
    @Option(help: ArgumentHelp("Source URL contains this text (case-insensitive).", valueName: "text"))
    var source: String?
    @Option(help: ArgumentHelp("Image name contains this text (case-insensitive).", valueName: "text"))
    var name: String?
    @Option(
        help: ArgumentHelp("Only images of this category id (animals, vehicles, ...; see `list-images labels --kind categories`).", valueName: "id"))
    var category: String?
    @Option(help: ArgumentHelp("Only images where this colour (basic: blue, red, ...; or CSS: navy, teal, ...) is dominant.", valueName: "name"))
    var color: String?
    @Option(help: ArgumentHelp("With --color: the least share (0-100) of the image it must cover.", valueName: "percent"))
    var minColorShare: Double = 10
    @Option(help: ArgumentHelp("Lowest sharpness (0-100; 50 is an ordinary photo's focus).", valueName: "value"))
    var minSharpness: Double?
    @Option(
        help: ArgumentHelp(
            "Face count: N exactly, N+ at least N (1+ any face), 0 none (images searched for faces only).", valueName: "count"))
    var faces: String?
    @Flag(help: "Only images with a person in them (a face, or the classifier's person classes).")
    var person = false
    @Flag(help: "Only images the moderation analysis found safe (no moderation label at its threshold).")
    var safe = false
    @Flag(help: "Only images with a moderation label at or above the threshold they were recognized with.")
    var unsafe = false
    @Option(
        help: ArgumentHelp(
            "Text in the image: every word given, in any order; \"a phrase\" in double quotes as written. Case and accents are ignored.",
            valueName: "words"))
    var text: String?
    @Option(help: "At most this many images.")
    var limit = 50
    @Option(help: "Skip this many images first (paging).")
    var offset = 0
    @Option(help: "Order: time (newest first) or confidence (of the best matching label).")
    var sort: ImageQuery.Sort = .time
    @Option(help: "Output: table, json, ndjson or csv.")
    var format: OutputFormat = .table

    @OptionGroup var home: HomeOptions
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if let minConfidence, !(0...100).contains(minConfidence) { throw ValidationError("--min-confidence must be between 0 and 100") }
        if limit < 0 { throw ValidationError("--limit must not be negative") }
        if !(0...100).contains(minColorShare) { throw ValidationError("--min-color-share must be between 0 and 100") }
        if let minSharpness, !(0...100).contains(minSharpness) { throw ValidationError("--min-sharpness must be between 0 and 100") }
        if offset < 0 { throw ValidationError("--offset must not be negative") }
        if safe && unsafe { throw ValidationError("--safe and --unsafe exclude each other") }
        if let text, text.replacingOccurrences(of: "\"", with: "").trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw ValidationError("--text needs a word to search for")
        }
        if let faces { _ = try Self.faceRange(faces) }
        for (flag, value) in [("--since", since), ("--until", until)] {
            if let value {
                do { _ = try TimeExpression.parse(value) } catch { throw ValidationError("\(flag): \(error)") }
            }
        }
    }

    func run() throws {
        let logger = logging.bootstrap(label: "list-images")
        let now = Date()
        let query = ImageQuery(
            labels: labels, labelMatch: labelMatch, minConfidence: minConfidence,
            since: try since.map { try TimeExpression.parse($0, now: now) },
            until: try until.map { try TimeExpression.parse($0, now: now) },
            sourceContains: source, nameContains: name, category: category, color: color, minColorShare: minColorShare,
            minSharpness: minSharpness, minFaces: try faces.map { try Self.faceRange($0).min },
            maxFaces: try faces.flatMap { try Self.faceRange($0).max },
            person: person, safety: safe ? .safe : unsafe ? .unsafe : nil, text: text, limit: limit, offset: offset, sort: sort)
        try StoreAccess.withStore(home, database: database, logger: logger) { store in
            let images = try store.images(matching: query)
            let formatter = ListingFormatter(format: format, width: TerminalWidth.current())
            StoreAccess.emit(try formatter.images(images, showMatch: !labels.isEmpty))
            if images.isEmpty && format == .table {
                FileHandle.standardError.write(Data("no images match\n".utf8))
            }
        }
    }

    /// `--faces`: "2" is exactly two, "2+" two or more, "0" none.
    static func faceRange(_ text: String) throws -> (min: Int, max: Int?) {
        guard let range = ImageQuery.faceRange(text) else {
            throw ValidationError("--faces: '\(text)' is not a count; use N (exactly), N+ (at least) or 0 (none)")
        }
        return range
    }
}
