import Bus
import Foundation
import InMemoryLogging
import Logging
import MailSink
import Notification
import NotificationXML
import PipelineModel
import TestSupport
import WorkerRuntime

/// Shared test data and helpers for the notifier tests.
enum Fixtures {
    static func labeled(name: String = "tabby.jpg", labels: [DetectedLabel]? = nil) -> ImageLabeled {
        ImageLabeled(
            imageID: String(repeating: "ab", count: 32), name: name, sourceURL: "http://127.0.0.1:8000/tabby.jpg?x=1&y=2",
            byteSize: 123_456,
            labels: labels ?? [
                DetectedLabel(name: "tabby cat", confidence: 91.25, parents: ["cat", "feline", "animal"]),
                DetectedLabel(name: "tiger cat", confidence: 6.5, parents: []),
            ],
            model: ModelInfo(name: "efficientnet-lite0", version: "int8-1"),
            recognizedAt: Date(timeIntervalSince1970: 1_795_000_000.125),
            timing: RecognitionTiming(decodeMs: 3, inferenceMs: 20, databaseMs: 1, queueWaitMs: 5))
    }

    static func body(_ labeled: ImageLabeled) throws -> Data {
        try MessageCoding.encoder().encode(labeled)
    }

    static func message(_ labeled: ImageLabeled = labeled(), id: String? = nil) throws -> ReceivedMessage {
        var message = LocalEvent.message(body: try body(labeled), topic: Topology.imageLabeledTopic, queue: Topology.notifyQueue)
        if let id {
            message.message.id = id
            message.receipt = id
        }
        return message
    }

    static func settings() throws -> NotificationSettings {
        try NotificationSettings(
            recipients: ["ops@example.org", "second@example.org"], sender: "pipeline@example.org",
            subject: "Labels for {name}: {labels}")
    }

    /// Quick retries so tests do not wait on backoff.
    static func fastPolicy(attempts: Int = 5, connectTimeout: TimeInterval = 5, timeout: TimeInterval = 30) -> DeliveryPolicy {
        DeliveryPolicy(
            attempts: attempts, initialBackoff: 0.02, maxBackoff: 0.1, maxInProcessWait: 5, queueBackoff: 1,
            maxQueueBackoff: 10, connectTimeout: connectTimeout, timeout: timeout)
    }

    static func handler(
        url: String, policy: DeliveryPolicy = fastPolicy(), maxInFlight: Int = 4,
        authorization: String? = nil, validate: Bool = true
    ) throws -> NotifyHandler {
        try NotifyHandler(
            configuration: NotifierConfiguration(
                gatewayURL: url, settings: settings(), policy: policy, maxInFlight: maxInFlight,
                authorization: authorization, validateDocuments: validate))
    }

    static let quietLogger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
}

/// A real mail sink in this process, listening on a free loopback port.
struct RunningSink {
    let sink: MailSink
    let port: UInt16
    let outbox: URL
    var url: String { "http://127.0.0.1:\(port)/messages" }

    static func start(outbox: URL, port: UInt16 = 0, faults: FaultSettings = FaultSettings()) async throws -> RunningSink {
        let sink = try MailSink(
            configuration: MailSinkConfiguration(port: port, outbox: outbox, faults: faults),
            logger: Fixtures.quietLogger)
        let port = try await sink.start()
        return RunningSink(sink: sink, port: port, outbox: outbox)
    }

    func storedFiles() -> [String] { sink.storage.storedFiles() }
}

/// Collects log lines (swift-log's in-memory handler) so tests can check what was (not) logged.
struct CapturedLogs {
    private let handler = InMemoryLogHandler()

    var logger: Logger {
        var handler = self.handler
        handler.logLevel = .trace
        return Logger(label: "captured") { _ in handler }
    }

    /// Every entry as one line: level, message and metadata.
    var text: String {
        handler.entries.map { "\($0.level) \($0.message) \($0.metadata)" }.joined(separator: "\n")
    }
}
