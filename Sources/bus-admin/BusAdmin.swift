import ArgumentParser
import Bus
import CLISupport
import Foundation
import Logging
import Presentation

/// `bus-admin`: look into and operate the pipeline's file-backed topics and queues.
@main
struct BusAdmin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bus-admin",
        abstract: "Inspect and operate the pipeline's file-backed topics and queues.",
        discussion: """
            The bus lives in <home>/bus (see docs/BUS.md). Every command is safe to run while \
            workers are running; `purge` and `check --repair --tmp-age 0` are the exceptions to \
            think about first.
            """,
        subcommands: [
            Status.self, Peek.self, Publish.self, Receive.self, Redrive.self, Replay.self,
            Purge.self, Check.self, CreateQueue.self, Subscribe.self,
        ])
}

/// Options every subcommand shares: where the bus is and how to log.
struct BusOptions: ParsableArguments {
    @OptionGroup var home: HomeOptions
    @OptionGroup var logging: LoggingOptions
    @OptionGroup var database: DatabaseOptions

    /// Sets up logging and opens the bus of the selected home (any backend with administration).
    func open() throws -> any BusAdministration {
        let logger = logging.bootstrap(label: "bus-admin")
        return try database.openBus(home: home.pipelineHome, logger: logger)
    }
}

/// Writes a line to stdout unbuffered, so a reader sees it even if the process is killed next.
func emit(_ line: String) { StandardOutput.line(line) }

/// Refuses the formats a report has no shape for (bus-admin reports are tables or JSON).
func requireTableOrJSON(_ format: OutputFormat) throws {
    guard format == .table || format == .json else {
        throw ValidationError("--format \(format.rawValue): this command writes table (also called text) or json")
    }
}

/// JSON encoding used by all commands: sorted keys, ISO-8601 dates.
func jsonLine<T: Encodable>(_ value: T, pretty: Bool = false) throws -> String {
    let encoder = JSONEncoder()
    encoder.dateEncodingStrategy = .iso8601
    encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

/// A message as the commands print it: the body as text when it is UTF-8, else base64.
struct PrintedMessage: Encodable {
    var id: String
    var topic: String
    var queue: String
    var attributes: [String: String]
    var publishedAt: Date
    var body: String?
    var bodyBase64: String?
    var receiveCount: Int
    var receipt: String?
    var state: String?
    var deadLetters: [DeadLetterRecord]?

    init(_ message: BusMessage, queue: String, receiveCount: Int) {
        id = message.id
        topic = message.topic
        self.queue = queue
        attributes = message.attributes
        publishedAt = message.publishedAt
        if let text = String(data: message.body, encoding: .utf8) { body = text } else { bodyBase64 = message.body.base64EncodedString() }
        self.receiveCount = receiveCount
    }
}
