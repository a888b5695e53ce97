import ArgumentParser
import Bus
import CLISupport
import Foundation
import LabelStore
import Logging
import Notification
import NotificationXML
import PipelineModel
import WorkerRuntime

/// `notify-xml run` (the default): the long-running notifier.
struct RunNotifier: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Consume image.labeled, convert each to notification XML and POST it to the e-mail gateway.",
        discussion: """
            Transient failures (timeouts, resets, 408, 429, 5xx) are retried with backoff, then the \
            message goes back to the queue; other 4xx answers and malformed messages go to the \
            notify.dead queue. Idempotency-Key is the message id. Stops gracefully on SIGTERM. \
            Subject placeholders: \(SubjectTemplate.placeholders.map { "{\($0.name)}" }.joined(separator: " ")).
            """)

    @OptionGroup var home: HomeOptions

    @Option(help: ArgumentHelp("Where notifications are POSTed.", valueName: "url"))
    var gatewayURL: String = NotifierConfiguration.defaultGatewayURL

    @Option(help: ArgumentHelp("Recipient address (repeat for several).", valueName: "address"))
    var to: [String] = []

    @Option(help: ArgumentHelp("Sender address.", valueName: "address"))
    var from: String = NotificationSettings.defaultSender

    @Option(help: ArgumentHelp("Subject template.", valueName: "template"))
    var subject: String = NotificationSettings.defaultSubject

    @Flag(help: "Process one batch from the queue (waiting up to --poll-wait seconds) and exit.")
    var once = false

    @Option(
        help: ArgumentHelp("Handle one image.labeled body from FILE (- for stdin) without the queue, print the outcome and exit.", valueName: "file"))
    var event: String?

    @Flag(help: "Print the XML that would be sent instead of POSTing it; with the queue, messages are put back untouched.")
    var dryRun = false

    @Option(help: "Receive-deliver loops running side by side.")
    var concurrency: Int = 4

    @Option(help: "Requests to the gateway in flight at once, across all loops.")
    var maxInFlight: Int = 4

    @Option(help: "Messages taken per receive.")
    var batchSize: Int = 1

    @Option(help: ArgumentHelp("Environment variable holding the Authorization header value (never logged).", valueName: "name"))
    var authEnv: String?

    @Option(help: "Seconds to wait for the TCP connection.")
    var connectTimeout: Double = 5

    @Option(help: "Seconds one POST may take in total.")
    var timeout: Double = 15

    @Option(help: "POST attempts per received message before it goes back to the queue.")
    var attempts: Int = 3

    @Option(help: "Seconds one receive waits for a message.")
    var pollWait: Double = 2

    @Option(help: "Seconds to finish messages in hand after SIGTERM before releasing them.")
    var drainTimeout: Double = 30

    @Option(
        help: ArgumentHelp(
            "Append one JSON line per delivered notification to FILE: the image's timings from URL read to gateway acceptance (used by Scripts/bench pipeline).",
            valueName: "file"))
    var trace: String?

    @OptionGroup var logging: LoggingOptions
    @OptionGroup var database: DatabaseOptions

    func validate() throws {
        guard concurrency >= 1, maxInFlight >= 1, batchSize >= 1, attempts >= 1 else {
            throw ValidationError("--concurrency, --max-in-flight, --batch-size and --attempts must be at least 1")
        }
        guard connectTimeout > 0, timeout > 0, pollWait >= 0, drainTimeout >= 0 else {
            throw ValidationError("timeouts must be positive")
        }
        guard !(once && event != nil) else { throw ValidationError("--once and --event cannot be combined") }
        _ = try makeConfiguration()
    }

    /// The notifier configuration, or a usage error naming the bad option.
    func makeConfiguration() throws -> NotifierConfiguration {
        do {
            var authorization: String?
            if let authEnv {
                guard let value = ProcessInfo.processInfo.environment[authEnv], !value.isEmpty else {
                    throw ValidationError("--auth-env \(authEnv): that environment variable is not set or empty")
                }
                authorization = value
            }
            let settings = try NotificationSettings(recipients: to, sender: from, subject: subject)
            return try NotifierConfiguration(
                gatewayURL: gatewayURL, settings: settings,
                policy: DeliveryPolicy(attempts: attempts, connectTimeout: connectTimeout, timeout: timeout),
                maxInFlight: maxInFlight, authorization: authorization)
        } catch let error as NotificationError {
            throw ValidationError("\(error)")
        }
    }

    func run() async throws {
        let logger = logging.bootstrap(label: "notify-xml")
        let file = try trace.map { try JSONLinesFile(path: $0, encoder: MessageCoding.encoder()) }
        // Delivering from the queue records each acceptance as the image's notified_at.
        let recorder = event == nil && !dryRun ? try makeRecorder(logger: logger) : nil
        var onDelivered: (@Sendable (DeliveryTrace) -> Void)?
        if file != nil || recorder != nil {
            onDelivered = { record in
                file?.append(record)
                recorder?.record(imageID: record.imageID, at: record.deliveredAt)
            }
        }
        let handler = try NotifyHandler(configuration: try makeConfiguration(), trace: onDelivered)
        defer {
            handler.close()
            recorder?.close()
        }

        if let event, dryRun {
            let body = try LocalEvent.read(from: event)
            let message = LocalEvent.message(body: body, topic: Topology.imageLabeledTopic, queue: Topology.notifyQueue)
            do {
                print(try handler.render(message))
            } catch {
                print(OutcomeText.describe(.deadLetter(reason: "\(error)"), messageID: message.message.id))
                throw ExitCode(1)
            }
            return
        }
        if let event {
            try await WorkerRunner.runLocalEvent(
                from: event, topic: Topology.imageLabeledTopic, queue: Topology.notifyQueue,
                handler: handler, logger: logger)
            return
        }

        let home = self.home.pipelineHome
        try home.createDirectories()
        let bus = try database.openBus(home: home, logger: logger)
        try Topology.ensure(on: bus)

        if dryRun {
            try await printQueuedDocuments(bus: bus, handler: handler)
            return
        }
        try await WorkerRunner.consume(
            bus: bus, handler: handler,
            options: WorkerOptions(
                queue: Topology.notifyQueue, batchSize: batchSize, concurrency: concurrency,
                pollWait: pollWait, drainTimeout: drainTimeout), once: once, logger: logger)
    }

    /// Writes `notified_at` into the home's label store (created if missing), batched.
    private func makeRecorder(logger: Logger) throws -> NotifiedRecorder {
        let home = self.home.pipelineHome
        try home.createDirectories()
        let store = try database.openLabelStore(home: home, logger: logger)
        return NotifiedRecorder(logger: logger) { marks in try store.markNotified(marks) }
    }

    /// `--dry-run` on the queue: prints the documents of one batch and puts the messages back.
    private func printQueuedDocuments(bus: any MessageBus, handler: NotifyHandler) async throws {
        let batch = try await bus.receive(from: Topology.notifyQueue, maxMessages: batchSize, visibilityTimeout: nil, wait: pollWait)
        for message in batch {
            do {
                print(try handler.render(message))
            } catch {
                print("<!-- \(message.message.id) cannot be rendered: \(error) -->")
            }
            try bus.release(message, delay: 0)
        }
        if batch.isEmpty { FileHandle.standardError.write(Data("notify-xml: no message in \(Topology.notifyQueue)\n".utf8)) }
    }
}
