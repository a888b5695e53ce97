import ArgumentParser
import CLISupport
import Foundation
import LabelStore

/// The database's integrity check; exits 1 unless it says "ok".
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check", abstract: "Check the label database's integrity (exit 1 when damaged).")

    @OptionGroup var home: HomeOptions
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var logging: LoggingOptions

    func run() throws {
        let logger = logging.bootstrap(label: "list-images")
        try StoreAccess.withStore(home, database: database, logger: logger) { store in
            let lines = try store.integrityCheck()
            StoreAccess.emit(lines.joined(separator: "\n") + "\n")
            if lines != ["ok"] { throw ExitCode.failure }
        }
    }
}
