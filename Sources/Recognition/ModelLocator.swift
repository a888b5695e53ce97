import Foundation

/// Finds the bundled model when `--model` is not given.
public enum ModelLocator {
    /// Environment variable naming a models directory.
    public static let environmentVariable = "IMAGE_PIPELINE_MODELS"
    /// The descriptor of the default model.
    public static let defaultDescriptor = "efficientnet-lite0.json"

    /// Looks in $IMAGE_PIPELINE_MODELS, then `Models/` in the current directory and above the
    /// running executable (a build folder inside the project), then /usr/local/share.
    public static func defaultModel(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> URL {
        var candidates: [URL] = []
        if let dir = environment[environmentVariable], !dir.isEmpty {
            candidates.append(URL(fileURLWithPath: dir).appendingPathComponent(defaultDescriptor))
        }
        candidates.append(
            URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
                .appendingPathComponent("Models").appendingPathComponent(defaultDescriptor))
        var directory = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath()
            .deletingLastPathComponent()
        for _ in 0..<5 {
            candidates.append(directory.appendingPathComponent("Models").appendingPathComponent(defaultDescriptor))
            directory = directory.deletingLastPathComponent()
        }
        candidates.append(URL(fileURLWithPath: "/usr/local/share/image-pipeline/Models").appendingPathComponent(defaultDescriptor))
        if let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0.path) }) { return found }
        throw RecognitionError.modelNotFound(searched: candidates.map { $0.deletingLastPathComponent().path })
    }
}
