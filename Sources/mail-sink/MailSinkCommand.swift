import ArgumentParser
import CLISupport
import Foundation
import MailSink
import WorkerRuntime

/// `mail-sink`: a small local e-mail gateway that stores the notifications it receives.
@main
struct MailSinkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mail-sink",
        abstract: "A local e-mail gateway: accepts notification XML, validates it, stores each message once.",
        discussion: """
            POST /messages (application/xml, validated against docs/schema/notification.xsd; \
            de-duplicated by Idempotency-Key), POST /control (JSON {"fail": N, "status": 503, \
            "delayMs": 0, "retryAfter": 1}), GET /stats, GET /health. Listens on 127.0.0.1 only. \
            The first line on standard output is `listening on http://127.0.0.1:PORT`.
            """)

    @Option(help: "TCP port on 127.0.0.1 (0 picks a free one).")
    var port: UInt16 = 8025

    @Option(help: ArgumentHelp("Also write the port number to this file once listening.", valueName: "path"))
    var portFile: String?

    @Option(help: ArgumentHelp("Directory of stored messages (default: <home>/outbox).", valueName: "dir"))
    var outbox: String?

    @OptionGroup var home: HomeOptions

    @Option(help: "Answer the first N POST /messages with --fail-status (to test client retries).")
    var failFirst: Int = 0

    @Option(help: "Status of deliberate failures.")
    var failStatus: Int = 503

    @Option(help: "Wait this many milliseconds before answering each POST /messages.")
    var delayMs: Int = 0

    @Option(help: "Send Retry-After: SECONDS with deliberate failures.")
    var retryAfter: Int?

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard failFirst >= 0, delayMs >= 0 else { throw ValidationError("--fail-first and --delay-ms must not be negative") }
        guard (100...599).contains(failStatus) else { throw ValidationError("--fail-status must be an HTTP status (100-599)") }
        if let retryAfter, retryAfter < 0 { throw ValidationError("--retry-after must not be negative") }
    }

    func run() async throws {
        let logger = logging.bootstrap(label: "mail-sink")
        let shutdown = ShutdownSignal.listening()
        let directory = outbox.map { URL(fileURLWithPath: $0) } ?? home.pipelineHome.root.appendingPathComponent("outbox")
        let sink = try MailSink(
            configuration: MailSinkConfiguration(
                port: port, outbox: directory,
                faults: FaultSettings(fail: failFirst, status: failStatus, delayMs: delayMs, retryAfter: retryAfter)), logger: logger)
        let actualPort = try await sink.start()
        // Written straight to the file descriptor: scripts read this line while we keep running.
        FileHandle.standardOutput.write(Data("listening on http://127.0.0.1:\(actualPort)\n".utf8))
        if let portFile {
            // Written whole then renamed, so a script polling for the file never reads half of it.
            let url = URL(fileURLWithPath: portFile)
            try Data("\(actualPort)\n".utf8).write(to: url, options: .atomic)
        }
        await shutdown.wait()
        await sink.stop()
        let stats = await sink.stats
        logger.info(
            "mail sink stopped",
            metadata: [
                "accepted": "\(stats.accepted)", "duplicates": "\(stats.duplicates)",
                "rejected": "\(stats.rejected)", "failed.on.purpose": "\(stats.failedOnPurpose)",
            ])
    }
}
