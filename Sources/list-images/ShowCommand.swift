import ArgumentParser
import CLISupport
import Foundation
import ImageListing
import LabelStore
import Presentation

/// Everything about one image.
struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show one image: all labels with parents, categories, brightness, sharpness and colours, source, stored path, each stage's time.")

    @Argument(help: ArgumentHelp("Image id or a unique prefix of it (as in the ID column).", valueName: "id"))
    var id: String
    @Option(help: "Output: table, json, ndjson or csv.")
    var format: OutputFormat = .table

    @OptionGroup var home: HomeOptions
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var logging: LoggingOptions

    func run() throws {
        let logger = logging.bootstrap(label: "list-images")
        try StoreAccess.withStore(home, database: database, logger: logger) { store in
            guard let image = try store.image(idOrPrefix: id) else {
                FileHandle.standardError.write(Data("list-images: no image with id or prefix '\(id)'\n".utf8))
                throw ExitCode.failure
            }
            StoreAccess.emit(try ListingFormatter(format: format, width: TerminalWidth.current()).detail(image))
        }
    }
}
