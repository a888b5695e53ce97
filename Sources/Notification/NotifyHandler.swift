import Bus
import CurlHTTP
import Foundation
import Logging
import NotificationXML
import PipelineModel
import WorkerRuntime

/// Everything the notifier needs to know, from the command line.
public struct NotifierConfiguration: Sendable {
    /// Default gateway endpoint (a `mail-sink` on its default port).
    public static let defaultGatewayURL = "http://127.0.0.1:8025/messages"

    /// Where notifications are POSTed.
    public var gatewayURL: String
    /// Recipients, sender and subject.
    public var settings: NotificationSettings
    /// Timeouts and retries.
    public var policy: DeliveryPolicy
    /// Requests to the gateway in flight at once, across all lanes of the worker.
    public var maxInFlight: Int
    /// Value of the `Authorization` header, if any. Never logged.
    public var authorization: String?
    /// Validate each document against the XSD before sending (a failure is a dead letter).
    public var validateDocuments: Bool

    /// Checks the gateway URL (http or https with a host) and the authorization value.
    public init(
        gatewayURL: String = defaultGatewayURL, settings: NotificationSettings, policy: DeliveryPolicy = DeliveryPolicy(),
        maxInFlight: Int = 4, authorization: String? = nil, validateDocuments: Bool = true
    ) throws {
        guard let url = URL(string: gatewayURL), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
            let host = url.host, !host.isEmpty
        else {
            throw NotificationError.invalidSettings(detail: "gateway URL \"\(gatewayURL)\" is not an http:// or https:// URL with a host")
        }
        if let authorization, authorization.contains(where: { $0 == "\r" || $0 == "\n" }) {
            throw NotificationError.invalidSettings(detail: "the authorization value contains a line break")
        }
        self.gatewayURL = gatewayURL
        self.settings = settings
        self.policy = policy
        self.maxInFlight = max(1, maxInFlight)
        self.authorization = authorization
        self.validateDocuments = validateDocuments
    }
}

/// Counts of what the notifier did, for logs, tests and benchmarks.
public struct DeliveryStatistics: Sendable, Equatable {
    /// POSTs sent (every try counts).
    public var attempts = 0
    /// Messages the gateway accepted.
    public var delivered = 0
    /// Tries that failed transiently.
    public var transientFailures = 0
    /// Messages handed back to the queue for a later try.
    public var handedBack = 0
    /// Messages dead-lettered (malformed, invalid, or rejected by the gateway).
    public var deadLettered = 0
    /// TCP connections opened to the gateway (stays low while connections are reused).
    public var connectionsOpened = 0
    /// All zero.
    public init() {}
}

/// The `notify` queue's handler: `image.labeled` body → notification XML → POST to the gateway.
///
/// Idempotent through the gateway: the `Idempotency-Key` is the message id, so a message
/// delivered twice (redelivery after a crash, a lost reply) is stored once.
public final class NotifyHandler: MessageHandler {
    private let configuration: NotifierConfiguration
    private let client: HTTPClient
    private let inFlight: AsyncSemaphore
    private let validator: SchemaValidator?
    private let counters = Counters()
    private let trace: (@Sendable (DeliveryTrace) -> Void)?

    /// Starts the HTTP client; call `close()` when done. `trace` is called once per delivered
    /// notification with the image's timings.
    public init(configuration: NotifierConfiguration, trace: (@Sendable (DeliveryTrace) -> Void)? = nil) throws {
        self.configuration = configuration
        self.trace = trace
        do {
            client = try HTTPClient(
                name: "curl-notify", maxHostConnections: configuration.maxInFlight,
                maxCachedConnections: max(4, configuration.maxInFlight))
        } catch {
            throw NotificationError.curlSetupFailed(operation: error.description, code: -1)
        }
        inFlight = AsyncSemaphore(permits: configuration.maxInFlight)
        validator = configuration.validateDocuments ? try SchemaValidator.notification.get() : nil
    }

    /// Stops the HTTP client.
    public func close() { client.shutdown(finishRunning: false) }

    /// What has been done so far.
    public var statistics: DeliveryStatistics { counters.value }

    /// Delivers each message of the batch (concurrently, within the in-flight limit).
    public func handle(_ batch: [ReceivedMessage], logger: Logger) async -> [MessageOutcome] {
        if batch.count == 1, let only = batch.first { return [await deliver(only, logger: logger)] }
        return await withTaskGroup(of: (Int, MessageOutcome).self) { group in
            for (index, message) in batch.enumerated() {
                group.addTask { (index, await self.deliver(message, logger: logger)) }
            }
            var outcomes = [MessageOutcome](repeating: .retry(delay: 0, reason: "not handled"), count: batch.count)
            for await (index, outcome) in group { outcomes[index] = outcome }
            return outcomes
        }
    }

    /// The XML that would be sent for `message` (decoded, mapped, and validated if enabled).
    public func render(_ message: ReceivedMessage, notifiedAt: Date = Date()) throws -> String {
        try document(for: message, notifiedAt: notifiedAt).xml
    }

    private func document(for message: ReceivedMessage, notifiedAt: Date = Date()) throws -> (labeled: ImageLabeled, xml: String) {
        let labeled = try message.decodeBody(ImageLabeled.self)
        guard labeled.schemaVersion <= ImageLabeled.currentSchemaVersion else {
            throw NotificationError.unsupportedSchemaVersion(
                messageID: message.message.id, version: labeled.schemaVersion,
                supported: ImageLabeled.currentSchemaVersion)
        }
        let xml = try NotificationDocument.xml(
            for: labeled, messageID: message.message.id,
            settings: configuration.settings, notifiedAt: notifiedAt)
        try validator?.validate(xml)
        return (labeled, xml)
    }

    /// Delivers one message: tries in-process with backoff, then hands it back to the queue.
    public func deliver(_ message: ReceivedMessage, logger: Logger) async -> MessageOutcome {
        let received = Date()
        var metadata = message.logMetadata
        let renderStarted = ContinuousClock.now
        let labeled: ImageLabeled
        let xml: String
        do {
            (labeled, xml) = try document(for: message)
        } catch {
            counters.update { $0.deadLettered += 1 }
            return .deadLetter(reason: "\(error)")
        }
        let renderMs = (ContinuousClock.now - renderStarted).inMilliseconds
        let post = HTTPRequest.post(
            configuration.gatewayURL, body: Data(xml.utf8), headers: headers(for: message),
            limits: configuration.policy.limits)
        let policy = configuration.policy
        var lastReason = ""
        var retryAfter: TimeInterval?
        for attempt in 1...policy.attempts {
            let started = ContinuousClock.now
            let result = await inFlight.withPermit { await client.perform(post) }
            counters.update { $0.attempts += 1 }
            let classified: DeliveryAttempt
            switch result {
            case .success(let reply):
                counters.update { $0.connectionsOpened += reply.newConnections }
                classified = DeliveryAttempt.classify(reply)
            case .failure(let error): classified = DeliveryAttempt.classify(error, url: configuration.gatewayURL)
            }
            metadata["attempt"] = "\(attempt)"
            metadata["elapsed.ms"] = "\((ContinuousClock.now - started).milliseconds)"
            switch classified {
            case .delivered(let status):
                counters.update { $0.delivered += 1 }
                metadata["http.status"] = "\(status)"
                logger.info("notification delivered", metadata: metadata)
                trace?(
                    DeliveryTrace(
                        imageID: labeled.imageID, messageID: message.message.id, fetch: labeled.fetchTiming,
                        recognition: labeled.timing, recognizedAt: labeled.recognizedAt,
                        notifyQueueWaitMs: max(0, received.timeIntervalSince(message.message.publishedAt) * 1000),
                        renderMs: renderMs, postMs: (ContinuousClock.now - started).inMilliseconds,
                        attempts: attempt, deliveredAt: Date()))
                return .completed
            case .permanent(let reason):
                counters.update { $0.deadLettered += 1 }
                return .deadLetter(reason: reason)
            case .transient(let reason, let after):
                counters.update { $0.transientFailures += 1 }
                lastReason = reason
                retryAfter = after
                metadata["reason"] = "\(reason)"
                if let after, after > policy.maxInProcessWait {
                    // The gateway asked for a longer pause than is worth holding the message for.
                    logger.info("gateway asked to retry later; handing the message back", metadata: metadata)
                    counters.update { $0.handedBack += 1 }
                    return .retry(delay: after, reason: reason)
                }
                guard attempt < policy.attempts else { break }
                let wait = after ?? policy.backoff(afterAttempt: attempt)
                metadata["backoff.s"] = "\(String(format: "%.2f", wait))"
                logger.info("gateway attempt failed; backing off", metadata: metadata)
                try? await Task.sleep(for: .seconds(wait))
            }
        }
        counters.update { $0.handedBack += 1 }
        let delay = max(retryAfter ?? 0, policy.queueDelay(receiveCount: message.receiveCount))
        return .retry(delay: delay, reason: "\(policy.attempts) attempt(s) failed; last: \(lastReason)")
    }

    private func headers(for message: ReceivedMessage) -> [String] {
        var headers = [
            "Content-Type: application/xml; charset=utf-8",
            "Idempotency-Key: \(message.message.id)",
        ]
        if let authorization = configuration.authorization { headers.append("Authorization: \(authorization)") }
        return headers
    }
}

/// Lock-protected statistics.
private final class Counters: @unchecked Sendable {
    private let lock = NSLock()
    private var statistics = DeliveryStatistics()
    var value: DeliveryStatistics { lock.withLock { statistics } }
    func update(_ change: (inout DeliveryStatistics) -> Void) { lock.withLock { change(&statistics) } }
}

extension Duration {
    /// Whole milliseconds.
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
