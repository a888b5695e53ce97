import ArgumentParser
import CLISupport
import Foundation
import LabelStore
import Logging
import PostgresClient
import Presentation

/// Opens the label database read-only and maps store errors to the documented exit statuses.
enum StoreAccess {
    /// EX_NOINPUT from sysexits.h: the database to read does not exist.
    static let noInput = ExitCode(66)

    /// Runs `body` on the home's database, printing store errors as one clear message.
    static func withStore(
        _ home: HomeOptions, database: DatabaseOptions, logger: Logger, _ body: (any LabelStoring) throws -> Void
    ) throws {
        do {
            let store = try database.openLabelStoreForReading(home: home.pipelineHome, logger: logger)
            try body(store)
        } catch let error as LabelStoreError {
            FileHandle.standardError.write(Data("list-images: \(error)\n".utf8))
            if case .databaseMissing = error { throw noInput }
            throw ExitCode.failure
        } catch let error as PostgresClientError {
            FileHandle.standardError.write(Data("list-images: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }

    /// Writes `text` to standard output as is.
    static func emit(_ text: String) { StandardOutput.write(text) }
}
