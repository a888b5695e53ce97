import Foundation
import Logging

/// How log lines are written to standard error.
public enum LogFormat: String, CaseIterable, Sendable {
    /// `2026-11-22T06:58:01.123Z info recognize: message key=value ...`
    case text
    /// One JSON object per line: `{"ts":...,"level":...,"logger":...,"msg":...,"message.id":...}`
    case json
}

/// Installs the pipeline's log handler; only executables call this.
public enum LogSetup {
    /// Bootstraps swift-log once per process with `StderrLineHandler`.
    public static func bootstrap(level: Logger.Level, format: LogFormat) {
        LoggingSystem.bootstrap { label in
            var handler = StderrLineHandler(label: label, format: format)
            handler.logLevel = level
            return handler
        }
    }
}

/// Writes each log event as a single line on standard error, metadata included, so that the
/// supervisor can prefix and merge the lines of every worker into one stream.
public struct StderrLineHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    let label: String
    let format: LogFormat

    public init(label: String, format: LogFormat) {
        self.label = label
        self.format = format
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        let timestamp = Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true))
        let line: String
        switch format {
        case .text:
            let pairs = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\(Self.quoted("\($0.value)"))" }
            line = ([timestamp, "\(event.level)", "\(label):", "\(event.message)"] + pairs).joined(separator: " ")
        case .json:
            var object: [String: String] = ["ts": timestamp, "level": "\(event.level)", "logger": label, "msg": "\(event.message)"]
            for (key, value) in merged { object[key] = "\(value)" }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
            line = String(decoding: data, as: UTF8.self)
        }
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// Quotes a value only when it needs it, so `key=value` stays easy to grep.
    static func quoted(_ value: String) -> String {
        if !value.isEmpty, !value.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" || $0.isNewline }) {
            return value
        }
        let escaped = value.replacingOccurrences(of: "\\", with: "\\\\")
            .replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
        return "\"\(escaped)\""
    }
}
