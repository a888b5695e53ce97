import Foundation

/// Where everything of one pipeline lives: the bus directory, the image store, the label
/// database and the logs, all under one home directory.
///
/// The home is `--home` if given, else `$IMAGE_PIPELINE_HOME`, else `~/.image-pipeline`.
public struct PipelineHome: Sendable, Equatable {
    /// Environment variable that names the home when `--home` is not given.
    public static let environmentVariable = "IMAGE_PIPELINE_HOME"

    /// The home directory itself.
    public let root: URL

    public init(root: URL) { self.root = root.standardizedFileURL }

    /// Resolves the home from an explicit path, the environment, or the default.
    public static func resolve(
        _ explicit: String?,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> PipelineHome {
        if let explicit, !explicit.isEmpty { return PipelineHome(root: URL(fileURLWithPath: explicit)) }
        if let fromEnv = environment[environmentVariable], !fromEnv.isEmpty {
            return PipelineHome(root: URL(fileURLWithPath: fromEnv))
        }
        let base =
            environment["HOME"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser
        return PipelineHome(root: base.appendingPathComponent(".image-pipeline"))
    }

    /// Directory of the file-backed topics and queues.
    public var busDirectory: URL { root.appendingPathComponent("bus", isDirectory: true) }
    /// Directory of the content-addressed image store.
    public var imagesDirectory: URL { root.appendingPathComponent("images", isDirectory: true) }
    /// The SQLite label database.
    public var labelDatabase: URL { root.appendingPathComponent("labels.sqlite") }
    /// Directory for worker log files written by the supervisor.
    public var logsDirectory: URL { root.appendingPathComponent("logs", isDirectory: true) }

    /// Creates the home and its fixed subdirectories if they are missing.
    public func createDirectories() throws {
        for dir in [root, busDirectory, imagesDirectory, logsDirectory] {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        }
    }
}
