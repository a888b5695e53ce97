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
        try bundledModel(descriptor: defaultDescriptor, environment: environment)
    }

    /// The bundled models by short name (`--model lite2`), with their descriptor files.
    public static let bundled: [(name: String, descriptor: String)] = [
        ("lite0", "efficientnet-lite0.json"), ("lite2", "efficientnet-lite2.json"),
    ]

    /// The descriptor of a bundled model named `lite0`, `lite2` or `efficientnet-lite2`; nil when
    /// the name is none of them (it may be a path).
    public static func bundledModel(named name: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> URL?
    {
        let key = name.lowercased()
        guard let entry = bundled.first(where: { $0.name == key || "efficientnet-\($0.name)" == key }) else { return nil }
        return try bundledModel(descriptor: entry.descriptor, environment: environment)
    }

    /// Looks for `descriptor` in the models directories, in the order `defaultModel` documents.
    static func bundledModel(descriptor: String, environment: [String: String]) throws -> URL {
        var candidates: [URL] = []
        if let dir = environment[environmentVariable], !dir.isEmpty {
            candidates.append(URL(fileURLWithPath: dir).appendingPathComponent(descriptor))
        }
        candidates.append(
            URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
                .appendingPathComponent("Models").appendingPathComponent(descriptor))
        var directory = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath()
            .deletingLastPathComponent()
        for _ in 0..<5 {
            candidates.append(directory.appendingPathComponent("Models").appendingPathComponent(descriptor))
            directory = directory.deletingLastPathComponent()
        }
        candidates.append(URL(fileURLWithPath: "/usr/local/share/image-pipeline/Models").appendingPathComponent(descriptor))
        if let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0.path) }) { return found }
        throw RecognitionError.modelNotFound(searched: candidates.map { $0.deletingLastPathComponent().path })
    }
}
