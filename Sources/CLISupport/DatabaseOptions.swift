import ArgumentParser
import Bus
import Foundation
import ImageStore
import LabelStore
import Logging
import PipelineModel
import PostgresBus
import PostgresClient

/// `--database`: where the bus, the label store and the image store live. Absent, the home's
/// file bus, SQLite database and image files (one machine); a PostgreSQL URL, all three in that
/// database, shared by workers on any number of machines.
public struct DatabaseOptions: ParsableArguments, Sendable {
    /// The environment variable read when `--database` is not given.
    public static let environmentVariable = "IMAGE_PIPELINE_DATABASE_URL"

    @Option(
        name: .long,
        help: ArgumentHelp(
            "PostgreSQL URL of the shared bus, label store and image store (postgres://user[:password]@host[:port]/database).",
            discussion:
                "Defaults to $\(DatabaseOptions.environmentVariable), else the home's file bus, SQLite database and image files. Tables are created or upgraded on start.",
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

    /// Opens the selected label store for writing (creating or upgrading its tables).
    public func openLabelStore(home: PipelineHome, logger: Logger) throws -> any LabelStoring {
        if let url { return try PostgresLabelStore(url: url, logger: logger) }
        return try LabelDatabase(home: home, logger: logger)
    }

    /// Opens the selected label store for reading: SQLite read-only (it must exist); PostgreSQL
    /// as for writing (a reader may be the first to reach a fresh database).
    public func openLabelStoreForReading(home: PipelineHome, logger: Logger) throws -> any LabelStoring {
        if let url { return try PostgresLabelStore(url: url, maxConnections: 2, logger: logger) }
        return try LabelDatabase.openReadOnly(home: home, logger: logger)
    }

    /// Opens the selected image store; a shared one caches local copies under the home.
    public func openImageStore(home: PipelineHome, logger: Logger) throws -> any ImageStoring {
        if let url { return try PostgresImageStore(url: url, cacheRoot: home.root.appendingPathComponent("image-cache"), logger: logger) }
        return ImageStore(home: home)
    }
}
