import ArgumentParser
import Bus
import Foundation
import PipelineModel
import Presentation

/// `bus-admin redrive`: move dead letters back.
struct Redrive: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Move every message of a dead-letter queue back to the queue it came from (or --to).",
        discussion: "Receive counts start again at zero; the dead-letter history stays with each message.")

    @OptionGroup var options: BusOptions
    @Argument(help: "The dead-letter queue, e.g. recognize.dead.") var deadLetterQueue: String
    @Option(help: "Send them to this queue instead of their source queue.") var to: String?

    func run() async throws {
        let moved = try options.open().redrive(from: deadLetterQueue, to: to)
        emit("redrove \(moved) message(s)")
    }
}

/// `bus-admin replay`: copy archived messages into a queue.
struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy a topic's archived messages (queue archive.<topic>) into a queue, e.g. after a bug fix.",
        discussion: "Message ids are kept; the archive keeps its copies.")

    @OptionGroup var options: BusOptions
    @Argument(help: "The topic whose archive to replay, e.g. image.stored.") var topic: String
    @Option(help: "The queue to copy the messages into.") var to: String
    @Option(help: "Only messages published at or after this time: an age (30m, 2h, 7d) or an ISO-8601 date or time, e.g. 2026-11-22T07:00:00Z.")
    var since: String?

    func validate() throws {
        if let since { do { _ = try TimeExpression.parse(since) } catch { throw ValidationError("--since: \(error)") } }
    }

    func run() async throws {
        let copied = try options.open().replay(topic: topic, to: to, since: try since.map { try TimeExpression.parse($0) })
        emit("replayed \(copied) message(s)")
    }
}

/// `bus-admin purge`: delete all messages of a queue.
struct Purge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Delete every message of a queue (ready, delayed and in flight).")

    @OptionGroup var options: BusOptions
    @Argument(help: "The queue to empty.") var queue: String
    @Flag(help: "Confirm: the messages are gone for good.") var yes = false

    func validate() throws {
        guard yes else { throw ValidationError("purge deletes messages for good; add --yes to confirm") }
    }

    func run() async throws {
        emit("purged \(try options.open().purge(queue)) message(s)")
    }
}

/// `bus-admin check`: integrity check, optionally repairing.
struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the bus directory for leftovers of crashed processes and unreadable files.",
        discussion: """
            Reports temporary files older than --tmp-age, unfinished fan-outs and unreadable message \
            files. --repair removes the leftovers, completes the fan-outs and moves unreadable files to \
            quarantine/. Exit status 1 when problems remain.
            """)

    @OptionGroup var options: BusOptions
    @Flag(help: "Fix what can be fixed.") var repair = false
    @Option(help: "Temporary files younger than this many seconds belong to running writers and are left alone.")
    var tmpAge: Double = 600
    @Option(help: "Output format: table (or text) or json.") var format: OutputFormat = .table

    func validate() throws {
        try requireTableOrJSON(format)
        guard tmpAge >= 0 else { throw ValidationError("--tmp-age must not be negative") }
    }

    func run() async throws {
        let report = try options.open().check(repair: repair, tmpAge: tmpAge)
        if format == .json {
            emit(try jsonLine(report, pretty: true))
        } else {
            for line in report.repairs { emit("repaired: \(line)") }
            for line in report.problems { emit("problem: \(line)") }
            emit(
                report.isClean
                    ? "clean (\(report.messagesChecked) message files checked)"
                    : "\(report.problems.count) problem(s); run `bus-admin check --repair`")
        }
        if !report.isClean { throw ExitCode(1) }
    }
}

/// `bus-admin create-queue`: create or reconfigure a queue.
struct CreateQueue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create-queue", abstract: "Create a queue or change its configuration.")

    @OptionGroup var options: BusOptions
    @Argument(help: "The queue name.") var queue: String
    @Option(help: "Visibility timeout in seconds.") var visibility: Double = 60
    @Option(help: "Receives before a message goes to the dead-letter queue.") var maxReceives = 5
    @Option(help: "Dead-letter queue (created if missing).") var deadLetter: String?
    @Option(help: "Retention in seconds (0: keep forever).") var retention: Double = 14 * 24 * 3600

    func validate() throws {
        guard visibility >= 0, maxReceives >= 1, retention >= 0 else { throw ValidationError("values must be positive") }
    }

    func run() async throws {
        try options.open().createQueue(
            queue,
            configuration: QueueConfiguration(
                visibilityTimeout: visibility, maxReceiveCount: maxReceives, deadLetterQueue: deadLetter,
                retention: retention == 0 ? nil : retention))
    }
}

/// `bus-admin subscribe`: subscribe a queue to a topic.
struct Subscribe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Subscribe a queue to a topic, optionally with an attribute filter.")

    @OptionGroup var options: BusOptions
    @Argument(help: "The queue.") var queue: String
    @Option(help: "The topic.") var topic: String
    @Option(name: .customLong("filter"), help: ArgumentHelp("Required attribute values (repeatable).", valueName: "key=v1|v2"))
    var filters: [String] = []

    func validate() throws {
        for filter in filters where !filter.contains("=") { throw ValidationError("--filter \(filter): expected key=value[|value]") }
    }

    func run() async throws {
        var required: [String: [String]] = [:]
        for filter in filters {
            let parts = filter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            required[String(parts[0]), default: []] += parts[1].split(separator: "|").map(String.init)
        }
        try options.open().subscribe(queue: queue, to: topic, filter: AttributeFilter(required))
    }
}
