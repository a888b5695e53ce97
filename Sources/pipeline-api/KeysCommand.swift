import ArgumentParser
import Foundation
import PipelineAPI

/// `pipeline-api keys add|list`: manage the key file (keys are stored as SHA-256 only).
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Create and list API keys in a key file.", subcommands: [AddKey.self, ListKeys.self])
}

extension APIScope: ExpressibleByArgument {}

struct AddKey: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Create a key, append its hash to the key file and print the key (shown only this once).")

    @Argument(help: "A name for the key's holder (letters, digits, - _ .).")
    var name: String
    @Option(help: "read (GET routes) or submit (POST /v1/images too).")
    var scope: APIScope = .read
    @Option(help: ArgumentHelp("Key file to append to (created, mode 600).", valueName: "path"))
    var keys: String
    @Option(help: "Requests per second allowed on average.")
    var rate: Double = APIKey.defaultRate
    @Option(help: "Requests allowed at once above the average.")
    var burst: Int = APIKey.defaultBurst

    func validate() throws {
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw ValidationError("the name may contain letters, digits, '-', '_' and '.' only")
        }
        guard rate > 0, rate.isFinite, burst >= 1 else { throw ValidationError("--rate must be positive and --burst at least 1") }
    }

    func run() throws {
        let existing = FileManager.default.fileExists(atPath: keys) ? try APIKeyring.load(path: keys) : APIKeyring(keys: [])
        if existing.keys.contains(where: { $0.name == name }) { throw ValidationError("the key file already has a key named '\(name)'") }
        let key = APIKeyring.generateKey()
        let entry = APIKey(name: name, scope: scope, hash: APIKeyring.hash(of: key), rate: rate, burst: burst)
        if !FileManager.default.fileExists(atPath: keys) {
            FileManager.default.createFile(
                atPath: keys, contents: Data("# pipeline-api keys: NAME SCOPE sha256:HASH rate=N burst=N\n".utf8),
                attributes: [.posixPermissions: 0o600])
        }
        guard let handle = FileHandle(forWritingAtPath: keys) else { throw ValidationError("cannot write the key file \(keys)") }
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data((entry.line + "\n").utf8))
        print(key)
        FileHandle.standardError.write(
            Data("pipeline-api: added key '\(name)' (\(scope.rawValue)) to \(keys); the key above is not stored, keep it\n".utf8))
    }
}

struct ListKeys: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the key file's keys (names, scopes, limits).")

    @Option(help: ArgumentHelp("Key file.", valueName: "path"))
    var keys: String

    func run() throws {
        for key in try APIKeyring.load(path: keys).keys {
            print("\(key.name)\t\(key.scope.rawValue)\trate=\(key.rate)\tburst=\(key.burst)")
        }
    }
}
