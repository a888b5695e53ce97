import ArgumentParser
import Bus
import Logging
import WorkerRuntime

/// The two ways every consuming worker runs, shared so that each executable only wires its
/// handler: one local event (`--event`), or its queue (`--once`, or until SIGTERM).
public enum WorkerRunner {
    /// Runs `handler` on the body read from `path` (- for stdin) as if it came from `queue`,
    /// prints the outcome, and exits non-zero unless the message completed.
    public static func runLocalEvent(
        from path: String, topic: String, queue: String,
        handler: any MessageHandler, logger: Logger
    ) async throws {
        let body = try LocalEvent.read(from: path)
        let message = LocalEvent.message(body: body, topic: topic, queue: queue)
        let outcome = await handler.handle([message], logger: logger).first ?? .retry(delay: 0, reason: "no outcome")
        print(OutcomeText.describe(outcome, messageID: message.message.id))
        if outcome != .completed { throw ExitCode(1) }
    }

    /// Consumes the queue: one batch with `once`, else until SIGTERM/SIGINT, draining what is in
    /// hand (exit status 75 when the drain timeout forced a release).
    public static func consume(
        bus: any MessageBus, handler: any MessageHandler, options: WorkerOptions,
        once: Bool, logger: Logger
    ) async throws {
        let loop = WorkerLoop(bus: bus, handler: handler, options: options, logger: logger)
        if once {
            let count = try await loop.runOnce(wait: options.pollWait)
            let counts = loop.counts
            print("processed \(count) message(s): \(counts.completed) completed, \(counts.retried) retried, \(counts.deadLettered) dead-lettered")
            return
        }
        let exit = await loop.run(until: ShutdownSignal.listening())
        if case .drainTimedOut = exit { throw ExitCode(75) }
    }
}
