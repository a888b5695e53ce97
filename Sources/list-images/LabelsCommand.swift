import ArgumentParser
import CLISupport
import Foundation
import ImageListing
import LabelStore
import Presentation

extension LabelCountQuery.Kind: ExpressibleByArgument {}

/// Every label and parent term with its image count, for discovering what to filter on.
struct LabelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "labels", abstract: "List label and parent terms (or categories, or colours) with their image counts, most frequent first.")

    @Option(help: "What to count: labels (with aliases and parents), categories or colors.")
    var kind: LabelCountQuery.Kind = .labels

    @Option(help: ArgumentHelp("Only terms containing this text (case-insensitive).", valueName: "text"))
    var contains: String?
    @Option(help: "At most this many terms (default: all).")
    var limit: Int?
    @Option(help: "Output: table, json, ndjson or csv.")
    var format: OutputFormat = .table

    @OptionGroup var home: HomeOptions
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if let limit, limit < 0 { throw ValidationError("--limit must not be negative") }
    }

    func run() throws {
        let logger = logging.bootstrap(label: "list-images")
        try StoreAccess.withStore(home, database: database, logger: logger) { store in
            let counts = try store.labelCounts(LabelCountQuery(contains: contains, limit: limit, kind: kind))
            StoreAccess.emit(try ListingFormatter(format: format, width: TerminalWidth.current()).labelCounts(counts))
        }
    }
}
