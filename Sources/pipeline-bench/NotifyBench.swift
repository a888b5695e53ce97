import ArgumentParser
import Bus
import CLISupport
import Dispatch
import Foundation
import Logging
import Notification
import NotificationXML
import PipelineModel
import WorkerRuntime

/// `pipeline-bench notify`: notifications per second to a gateway, for Scripts/bench-notify.
struct NotifyBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notify",
        abstract: "Measure notifications per second to a gateway (prints JSON lines).",
        discussion: """
            "direct" drives the handler from N concurrent callers (mapping, validation, POST); \
            "queue" publishes the messages into a temporary file bus and runs the worker loop with \
            N lanes until the queue is empty (adds receive and ack). Each run uses fresh \
            Idempotency-Keys, so every message is stored by the gateway.
            """)

    @Option(help: ArgumentHelp("Gateway endpoint (e.g. a mail-sink).", valueName: "url"))
    var gatewayURL: String = NotifierConfiguration.defaultGatewayURL

    @Option(help: "Notifications per measured run.")
    var count: Int = 1000

    @Option(help: "Comma-separated in-flight limits (one run each; lanes = limit).")
    var inFlight: String = "1,16"

    @Option(help: "Comma-separated modes: direct, queue.")
    var modes: String = "direct,queue"

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
        guard !limits.isEmpty, limits.allSatisfy({ $0 >= 1 }) else { throw ValidationError("--in-flight must list positive numbers") }
    }

    private var limits: [Int] { inFlight.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    func run() async throws {
        let logger = Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }
        let settings = try NotificationSettings(recipients: ["bench@example.org"])
        let body = try MessageCoding.encoder().encode(Self.sampleLabeled())
        let run = UUID().uuidString.prefix(8).lowercased()
        for mode in modes.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            for limit in limits {
                let handler = try NotifyHandler(
                    configuration: NotifierConfiguration(
                        gatewayURL: gatewayURL, settings: settings, maxInFlight: limit))
                defer { handler.close() }
                // Warm-up: opens connections, loads the schema.
                _ = await deliverDirect(
                    handler, body: body, ids: (0..<min(20, count)).map { "bench-\(run)-warm-\(mode)-\(limit)-\($0)" },
                    lanes: limit, logger: logger)
                let ids = (0..<count).map { "bench-\(run)-\(mode)-\(limit)-\($0)" }
                let start = DispatchTime.now()
                let delivered: Int
                switch mode {
                case "direct": delivered = await deliverDirect(handler, body: body, ids: ids, lanes: limit, logger: logger)
                case "queue": delivered = try await deliverThroughQueue(handler, body: body, ids: ids, lanes: limit, logger: logger)
                default: throw ValidationError("unknown mode \(mode); use direct or queue")
                }
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
                emit([
                    "mode": mode, "in_flight": limit, "count": count, "delivered": delivered,
                    "seconds": (seconds * 1000).rounded() / 1000, "per_s": (Double(delivered) / seconds).rounded(),
                    "attempts": handler.statistics.attempts, "connections": handler.statistics.connectionsOpened,
                ])
            }
        }
    }

    /// `lanes` tasks take ids from a shared counter and deliver them; returns how many completed.
    private func deliverDirect(_ handler: NotifyHandler, body: Data, ids: [String], lanes: Int, logger: Logger) async -> Int {
        let next = Counter()
        return await withTaskGroup(of: Int.self) { group in
            for _ in 0..<lanes {
                group.addTask {
                    var completed = 0
                    while let index = next.take(below: ids.count) {
                        var message = LocalEvent.message(body: body, topic: Topology.imageLabeledTopic, queue: Topology.notifyQueue)
                        message.message.id = ids[index]
                        if await handler.deliver(message, logger: logger) == .completed { completed += 1 }
                    }
                    return completed
                }
            }
            return await group.reduce(0, +)
        }
    }

    private func deliverThroughQueue(_ handler: NotifyHandler, body: Data, ids: [String], lanes: Int, logger: Logger) async throws -> Int {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("notify-bench-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: home) }
        let bus = try FileBus(root: home, logger: logger)
        try bus.createQueue(Topology.notifyQueue, configuration: Topology.notifyConfiguration)
        for id in ids {
            try bus.send(
                BusMessage(id: id, topic: Topology.imageLabeledTopic, attributes: [:], body: body, publishedAt: Date()),
                to: Topology.notifyQueue, delay: 0)
        }
        let loop = WorkerLoop(
            bus: bus, handler: handler,
            options: WorkerOptions(
                queue: Topology.notifyQueue, batchSize: 1, concurrency: lanes, pollWait: 0.05, drainTimeout: 30), logger: logger)
        let shutdown = ShutdownSignal()
        let running = Task { await loop.run(until: shutdown) }
        while loop.counts.total < ids.count { try await Task.sleep(for: .milliseconds(5)) }
        shutdown.trigger()
        _ = await running.value
        return loop.counts.completed
    }

    private func emit(_ object: [String: Any]) {
        if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) {
            print(String(decoding: data, as: UTF8.self))
        }
    }

    static func sampleLabeled() -> ImageLabeled {
        ImageLabeled(
            imageID: String(repeating: "0f", count: 32), name: "bench.jpg", sourceURL: "http://127.0.0.1/bench.jpg",
            byteSize: 100_000,
            labels: [
                DetectedLabel(name: "tabby cat", confidence: 91.5, parents: ["cat", "feline", "animal"]),
                DetectedLabel(name: "tiger cat", confidence: 5.25, parents: ["cat", "feline", "animal"]),
                DetectedLabel(name: "Egyptian cat", confidence: 1.5, parents: ["cat"]),
            ],
            model: ModelInfo(name: "efficientnet-lite0", version: "bench"), recognizedAt: Date(),
            timing: RecognitionTiming(decodeMs: 1, inferenceMs: 1, databaseMs: 1, queueWaitMs: 1))
    }
}

/// A shared index for the bench lanes.
private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func take(below limit: Int) -> Int? {
        lock.withLock {
            guard value < limit else { return nil }
            defer { value += 1 }
            return value
        }
    }
}
