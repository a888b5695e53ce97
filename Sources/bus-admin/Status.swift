import ArgumentParser
import Bus
import Foundation
import Presentation

/// `bus-admin status`: topics, subscriptions and queue depths.
struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show topics with their subscriptions and every queue's depth, in-flight, delayed and dead-letter counts.")

    @OptionGroup var options: BusOptions
    @Option(help: "Output format: table (or text) or json.") var format: OutputFormat = .table

    func validate() throws { try requireTableOrJSON(format) }

    struct Report: Encodable {
        var topics: [TopicInfo]
        var queues: [QueueStatus]
    }

    func run() async throws {
        let bus = try options.open()
        let report = Report(topics: try bus.topics(), queues: try bus.queues().map { try bus.status(of: $0) })
        if format == .json {
            emit(try jsonLine(report, pretty: true))
            return
        }
        var lines = ["TOPIC                 SUBSCRIBED QUEUES (filter)                PENDING"]
        for topic in report.topics {
            let subscriptions = topic.subscriptions.map { sub in
                sub.filter.required.isEmpty
                    ? sub.queue
                    : "\(sub.queue) (\(sub.filter.required.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.joined(separator: "|"))" }.joined(separator: ",")))"
            }.joined(separator: ", ")
            lines.append(
                TextColumns.pad(topic.name, 22) + TextColumns.pad(subscriptions.isEmpty ? "-" : subscriptions, 42) + "\(topic.pendingFanOuts)")
        }
        lines.append("")
        lines.append("QUEUE                  VISIBLE  IN-FLIGHT  DELAYED  OLDEST     DEAD-LETTERS")
        for queue in report.queues {
            let oldest = queue.oldestVisibleAge.map { TextColumns.age($0) } ?? "-"
            let dead = queue.deadLetters.map { "\($0) (\(queue.configuration.deadLetterQueue ?? ""))" } ?? "-"
            lines.append(
                TextColumns.pad(queue.stats.queue, 22) + TextColumns.padLeft("\(queue.stats.visible)", 8)
                    + TextColumns.padLeft("\(queue.stats.inFlight)", 11)
                    + TextColumns.padLeft("\(queue.stats.delayed)", 9) + "  " + TextColumns.pad(oldest, 11) + dead)
        }
        emit(lines.joined(separator: "\n"))
    }
}
