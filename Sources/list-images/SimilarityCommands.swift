import ArgumentParser
import CLISupport
import Foundation
import ImageListing
import LabelStore
import Presentation

/// Groups of near-duplicate images.
struct DuplicatesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "duplicates",
        abstract: "Group near-duplicate images: resized, re-encoded, cropped or mirrored copies of one photo.",
        discussion: """
            Two images are duplicates when their perceptual hashes differ in at most --max-distance bits \
            (resized, re-encoded and mirrored copies: 0-6) or their feature embeddings reach --min-similarity \
            (cropped copies); groups join transitively. Only images recognized with the similarity analysis count.
            """)

    @Option(help: "Most differing perceptual-hash bits (0-32) for two images to be duplicates.")
    var maxDistance = 8
    @Option(help: "Least embedding similarity (-1 to 1, centred cosine) for two images to be duplicates.")
    var minSimilarity = 0.8
    @Flag(help: "Use the perceptual hash only (no embeddings).")
    var hashOnly = false
    @Option(help: "Output: table, json, ndjson or csv.")
    var format: OutputFormat = .table

    @OptionGroup var home: HomeOptions
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if !(0...32).contains(maxDistance) { throw ValidationError("--max-distance must be between 0 and 32") }
        if !(-1...1).contains(minSimilarity) { throw ValidationError("--min-similarity must be between -1 and 1") }
    }

    func run() throws {
        let logger = logging.bootstrap(label: "list-images")
        try StoreAccess.withStore(home, database: database, logger: logger) { store in
            let groups = try store.duplicateGroups(DuplicateQuery(maxDistance: maxDistance, minSimilarity: hashOnly ? nil : minSimilarity))
            StoreAccess.emit(try ListingFormatter(format: format, width: TerminalWidth.current()).duplicateGroups(groups))
            if groups.isEmpty && format == .table { FileHandle.standardError.write(Data("no duplicates\n".utf8)) }
        }
    }
}

/// The images most like one image.
struct SimilarCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "similar", abstract: "List the images most like one image (by the classifier's feature embedding), most similar first.")

    @Argument(help: ArgumentHelp("Image id or a unique prefix of it.", valueName: "id"))
    var id: String
    @Option(help: "At most this many images.")
    var limit = 10
    @Option(help: "Output: table, json, ndjson or csv.")
    var format: OutputFormat = .table

    @OptionGroup var home: HomeOptions
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if limit < 0 { throw ValidationError("--limit must not be negative") }
    }

    func run() throws {
        let logger = logging.bootstrap(label: "list-images")
        try StoreAccess.withStore(home, database: database, logger: logger) { store in
            guard let result = try store.similarImages(to: id, limit: limit) else {
                FileHandle.standardError.write(Data("list-images: no image with id or prefix '\(id)'\n".utf8))
                throw ExitCode.failure
            }
            StoreAccess.emit(try ListingFormatter(format: format, width: TerminalWidth.current()).similar(result))
        }
    }
}
