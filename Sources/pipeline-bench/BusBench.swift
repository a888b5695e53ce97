import ArgumentParser
import Bus
import Dispatch
import Foundation
import Logging
import PostgresBus

/// `pipeline-bench bus`: publish and receive+delete throughput of the file bus and the
/// PostgreSQL bus side by side, with 1..N concurrent consumers.
struct BusBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bus",
        abstract: "Measure bus throughput: publish, and receive+delete with N consumers (prints a table).",
        discussion: """
            Publishes --messages messages (1 KB bodies, in batches of --batch, as fetch-image and the \
            recognizer publish) to a topic with one subscribed queue, then drains the queue with N \
            concurrent consumers (receive up to --batch, delete each). The file bus runs in a \
            temporary directory; the PostgreSQL bus in a fresh schema of --database, dropped afterwards.
            """)

    @Option(help: ArgumentHelp("PostgreSQL URL; without it only the file bus is measured.", valueName: "url"))
    var database: String?

    @Option(help: "Messages per run.")
    var messages: Int = 2000

    @Option(help: "Messages per publish and per receive.")
    var batch: Int = 10

    @Option(help: "Comma-separated consumer counts (one drain each).")
    var consumers: String = "1,2,4"

    func validate() throws {
        guard messages >= 1, batch >= 1 else { throw ValidationError("--messages and --batch must be at least 1") }
        guard !consumerCounts.isEmpty, consumerCounts.allSatisfy({ $0 >= 1 }) else {
            throw ValidationError("--consumers must list positive numbers")
        }
    }

    private var consumerCounts: [Int] { consumers.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    func run() async throws {
        let logger = Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }
        print("bus          consumers  publish msg/s  receive+delete msg/s")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bus-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        for count in consumerCounts {
            let bus = try FileBus(root: directory.appendingPathComponent("bus-\(count)"), logger: logger)
            try await measure("file", bus, consumers: count)
        }
        if let database {
            for count in consumerCounts {
                let schema = "bench_bus_\(count)_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(8)
                let bus = try PostgresBus(url: database, schema: String(schema), maxConnections: count + 1, logger: logger)
                try await measure("postgres", bus, consumers: count)
                try bus.dropSchema()
            }
        }
    }

    private func measure(_ name: String, _ bus: any MessageBus, consumers: Int) async throws {
        try bus.createQueue("bench", configuration: QueueConfiguration(visibilityTimeout: 60, maxReceiveCount: 5))
        try bus.subscribe(queue: "bench", to: "bench.topic", filter: AttributeFilter())
        let body = Data(repeating: 0x61, count: 1024)
        let start = DispatchTime.now()
        for first in stride(from: 0, to: messages, by: batch) {
            let batchMessages = (first..<min(messages, first + batch)).map {
                OutgoingMessage(topic: "bench.topic", body: body, attributes: ["n": "\($0)"])
            }
            try bus.publish(batchMessages)
        }
        let published = Double(messages) / seconds(since: start)
        let drainStart = DispatchTime.now()
        let size = batch
        let drained = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<consumers {
                group.addTask {
                    var count = 0
                    while true {
                        let received = try await bus.receive(from: "bench", maxMessages: size, visibilityTimeout: nil, wait: 0)
                        if received.isEmpty { return count }
                        for message in received { try bus.delete(message) }
                        count += received.count
                    }
                }
            }
            return try await group.reduce(0, +)
        }
        let consumed = Double(drained) / seconds(since: drainStart)
        print(
            name.padding(toLength: 13, withPad: " ", startingAt: 0) + "\(consumers)".padding(toLength: 11, withPad: " ", startingAt: 0)
                + String(format: "%13.0f  %20.0f", published, consumed) + (drained == messages ? "" : "  (drained \(drained) of \(messages)!)"))
    }

    private func seconds(since start: DispatchTime) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    }
}
