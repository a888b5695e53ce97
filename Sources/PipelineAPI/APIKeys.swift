import Foundation
import ImageStore

/// What a key may do. `submit` includes `read`: a client that adds images may look at them.
public enum APIScope: String, Sendable, CaseIterable, Comparable {
    case read, submit

    public static func < (lhs: APIScope, rhs: APIScope) -> Bool { lhs == .read && rhs == .submit }
}

/// One API key as the key file records it: never the key itself, only its SHA-256.
public struct APIKey: Sendable, Equatable {
    /// Who the key belongs to (logs, metrics, rate limits).
    public var name: String
    public var scope: APIScope
    /// SHA-256 of the key, lowercase hex.
    public var hash: String
    /// Requests per second allowed on average.
    public var rate: Double
    /// Requests allowed at once above the average.
    public var burst: Int

    public static let defaultRate = 20.0
    public static let defaultBurst = 40

    public init(name: String, scope: APIScope, hash: String, rate: Double = defaultRate, burst: Int = defaultBurst) {
        self.name = name
        self.scope = scope
        self.hash = hash
        self.rate = rate
        self.burst = burst
    }

    /// The key file's line for this key.
    public var line: String {
        "\(name) \(scope.rawValue) sha256:\(hash) rate=\(Self.number(rate)) burst=\(burst)"
    }

    private static func number(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}

/// The keys the server accepts, read from a key file of lines
/// `NAME SCOPE sha256:HEX [rate=N] [burst=N]` (`#` starts a comment). `pipeline-api keys add` writes them.
public struct APIKeyring: Sendable {
    public private(set) var keys: [APIKey]
    private var byHash: [String: APIKey]

    /// The problem with one line of a key file.
    public struct FileError: Error, CustomStringConvertible {
        public var path: String
        public var line: Int
        public var reason: String
        public var description: String { "\(path):\(line): \(reason)" }
    }

    public init(keys: [APIKey]) {
        self.keys = keys
        byHash = Dictionary(keys.map { ($0.hash, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// True when no key is configured (the API is then open, and only on loopback).
    public var isEmpty: Bool { keys.isEmpty }

    /// The key whose SHA-256 matches `presented`, or nil.
    public func key(for presented: String) -> APIKey? {
        byHash[Self.hash(of: presented)]
    }

    /// SHA-256 hex of a presented key (keys are long random strings, so a plain hash is enough).
    public static func hash(of key: String) -> String { SHA256.hex(of: Array(key.utf8)) }

    /// A new random key: "ipk_" and 32 random bytes in base64url.
    public static func generateKey() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let base64 = Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        return "ipk_" + base64
    }

    /// Reads a key file; a missing file is an error (the operator named it).
    public static func load(path: String) throws -> APIKeyring {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw FileError(path: path, line: 0, reason: "cannot read the key file (\(error.localizedDescription))")
        }
        return try parse(text, path: path)
    }

    /// Parses key file text.
    public static func parse(_ text: String, path: String = "keys") throws -> APIKeyring {
        var keys: [APIKey] = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
            let fields = line.split(whereSeparator: \.isWhitespace).map(String.init)
            guard !fields.isEmpty else { continue }
            func fail(_ reason: String) -> FileError { FileError(path: path, line: index + 1, reason: reason) }
            guard fields.count >= 3 else { throw fail("expected NAME SCOPE sha256:HEX [rate=N] [burst=N]") }
            guard let scope = APIScope(rawValue: fields[1]) else { throw fail("scope '\(fields[1])' is not read or submit") }
            let hash = fields[2].hasPrefix("sha256:") ? String(fields[2].dropFirst(7)).lowercased() : ""
            guard hash.count == 64, hash.allSatisfy(\.isHexDigit) else { throw fail("the key must be given as sha256:<64 hex digits>") }
            var key = APIKey(name: fields[0], scope: scope, hash: hash)
            for option in fields.dropFirst(3) {
                let parts = option.split(separator: "=", maxSplits: 1).map(String.init)
                switch (parts.first, parts.count == 2 ? parts[1] : nil) {
                case ("rate", let value?):
                    guard let rate = Double(value), rate > 0, rate.isFinite else { throw fail("rate must be a positive number") }
                    key.rate = rate
                case ("burst", let value?):
                    guard let burst = Int(value), burst >= 1 else { throw fail("burst must be a whole number of at least 1") }
                    key.burst = burst
                default:
                    throw fail("unknown option '\(option)' (rate=N, burst=N)")
                }
            }
            if keys.contains(where: { $0.name == key.name }) { throw fail("the name '\(key.name)' is used twice") }
            keys.append(key)
        }
        return APIKeyring(keys: keys)
    }
}
