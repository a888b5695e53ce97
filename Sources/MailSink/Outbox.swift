import DurableFiles
import Foundation

/// The sink's durable store: one `.xml` file per accepted message, named after its
/// Idempotency-Key, so the file itself records the key and survives restarts.
///
/// A message is written to `.tmp/`, fsynced, then hard-linked to its final name: `link(2)`
/// fails with EEXIST if the key was seen before, which makes "store unless duplicate" a single
/// atomic step even with concurrent requests or several sink processes. The directory is
/// fsynced after the link, so an acknowledged message survives a power cut.
public struct Outbox: Sendable {
    /// Where the messages are.
    public let directory: URL
    private var temporary: URL { directory.appendingPathComponent(".tmp", isDirectory: true) }

    /// What `store` did.
    public enum StoreResult: Sendable, Equatable {
        case stored(file: String)
        case duplicate(file: String)
    }

    /// Creates the directories and removes temporary files a crash left behind.
    public init(directory: URL) throws {
        self.directory = directory
        try FileManager.default.createDirectory(at: temporary, withIntermediateDirectories: true)
        for leftover in (try? FileManager.default.contentsOfDirectory(atPath: temporary.path)) ?? [] {
            try? FileManager.default.removeItem(at: temporary.appendingPathComponent(leftover))
        }
    }

    /// The file name for a key: the key itself when it is a safe file name, else `k-` and the
    /// hex of its UTF-8 bytes (reversible, no hashing needed). Nil for keys too long to name.
    public static func fileName(forKey key: String) -> String? {
        let safe =
            key.utf8.count <= 200 && key.first != "."
            && key.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0)
            }
        if safe, !key.isEmpty, !key.hasPrefix("k-"), !key.hasPrefix("nokey-") { return key + ".xml" }
        guard key.utf8.count <= 100 else { return nil }
        return "k-" + key.utf8.map { String(format: "%02x", $0) }.joined() + ".xml"
    }

    /// Stores `data` under `key` unless a message with that key is already stored; a message
    /// without key is always stored, under a fresh name.
    public func store(_ data: Data, key: String?) throws -> StoreResult {
        let name: String
        if let key {
            guard let keyed = Self.fileName(forKey: key) else {
                throw MailSinkError.outbox(operation: "naming", path: key, errno: ENAMETOOLONG)
            }
            name = keyed
        } else {
            name = "nokey-\(UUID().uuidString.lowercased()).xml"
        }
        let final = directory.appendingPathComponent(name)
        if FileManager.default.fileExists(atPath: final.path) { return .duplicate(file: name) }

        let temp = temporary.appendingPathComponent("\(UUID().uuidString).xml").path
        do {
            try DurableFile.writeNew(data, to: temp)
            defer { _ = try? DurableFile.unlink(temp) }
            // link(2) refuses an existing name: "store unless duplicate" in one atomic step.
            if try DurableFile.link(temp, final.path) == .targetExists { return .duplicate(file: name) }
            try DurableFile.syncDirectory(directory.path)
        } catch {
            throw MailSinkError.outbox(operation: error.call, path: error.path, errno: error.errno)
        }
        return .stored(file: name)
    }

    /// The names of the stored messages, sorted.
    public func storedFiles() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { $0.hasSuffix(".xml") }.sorted()
    }
}
