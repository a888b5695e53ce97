import ArgumentParser
import Bus
import Foundation
import Logging
import PipelineModel
import PostgresBus
import PostgresClient

/// `--database`: where the bus lives. Absent, the home's file bus (one machine); a PostgreSQL URL,
/// a bus that workers on several machines share.
public struct DatabaseOptions: ParsableArguments {
    /// The environment variable read when `--database` is not given.
    public static let environmentVariable = "IMAGE_PIPELINE_DATABASE_URL"

    @Option(
        name: .long,
        help: ArgumentHelp(
            "PostgreSQL URL of a shared bus (postgres://user[:password]@host[:port]/database).",
            discussion: "Defaults to $\(DatabaseOptions.environmentVariable), else the home's file bus. The label and image stores stay in the home.",
            valueName: "url"))
    public var database: String?

    public init() {}

    /// The URL in effect, from the flag or the environment; nil for the file bus.
    public var url: String? {
        let value = database ?? ProcessInfo.processInfo.environment[Self.environmentVariable]
        return value.flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 }
    }

    public func validate() throws {
        if let url, PostgresLocation(url: url) == nil {
            throw ValidationError("--database '\(url)' is not a postgres://user@host[:port]/database URL")
        }
    }

    /// Opens the selected bus.
    public func openBus(home: PipelineHome, logger: Logger) throws -> any BusAdministration {
        if let url { return try PostgresBus(url: url, logger: logger) }
        return try FileBus(root: home.busDirectory, logger: logger)
    }
}
