import Bus
import Foundation
import Logging
import PipelineModel

/// How a worker consumes its queue.
public struct WorkerOptions: Sendable {
    /// The queue to consume.
    public var queue: String
    /// Messages taken per receive (handlers may process a batch together, e.g. batch inference).
    public var batchSize: Int
    /// Independent receive-handle loops running side by side.
    public var concurrency: Int
    /// Long-poll wait of one receive call, in seconds.
    public var pollWait: TimeInterval
    /// After a shutdown request, how long messages in hand may take to finish before they are
    /// released back to the queue.
    public var drainTimeout: TimeInterval

    public init(
        queue: String, batchSize: Int = 1, concurrency: Int = 1, pollWait: TimeInterval = 2,
        drainTimeout: TimeInterval = 30
    ) {
        self.queue = queue
        self.batchSize = max(1, batchSize)
        self.concurrency = max(1, concurrency)
        self.pollWait = pollWait
        self.drainTimeout = drainTimeout
    }
}

/// How a worker loop ended.
public enum WorkerExit: Sendable, Equatable {
    /// Every message in hand was finished.
    case drained
    /// The drain timeout passed; unfinished messages were released for another worker.
    case drainTimedOut(released: Int)
}

/// Counts of what a worker did, for its closing log line and `--once`.
public struct WorkerCounts: Sendable, Equatable {
    public var completed = 0
    public var retried = 0
    public var deadLettered = 0
    public init() {}
    public var total: Int { completed + retried + deadLettered }
}

/// The receive → handle → ack loop every consuming worker runs.
///
/// Each of `concurrency` lanes long-polls the queue for up to `batchSize` messages, hands them
/// to the handler and applies its outcomes. On shutdown the lanes stop receiving, finish what
/// they hold, and anything still unfinished after the drain timeout is released — never lost.
public final class WorkerLoop: Sendable {
    private let bus: any MessageBus
    private let handler: any MessageHandler
    private let options: WorkerOptions
    private let logger: Logger
    private let state = LoopState()

    public init(bus: any MessageBus, handler: any MessageHandler, options: WorkerOptions, logger: Logger) {
        self.bus = bus
        self.handler = handler
        self.options = options
        self.logger = logger
    }

    /// Waits between failed receives (a bus directory gone, a disk error): 0.4 s doubling to 30 s.
    static let receiveBackoff = Backoff(initial: 0.4, maximum: 30)

    /// What this loop has done so far.
    public var counts: WorkerCounts { state.counts }

    /// Runs until `shutdown` triggers, then drains.
    public func run(until shutdown: ShutdownSignal) async -> WorkerExit {
        logger.info(
            "worker started",
            metadata: [
                "queue": "\(options.queue)", "concurrency": "\(options.concurrency)", "batch": "\(options.batchSize)",
            ])
        let lanes = (0..<options.concurrency).map { lane in
            Task { await self.lane(lane, shutdown: shutdown) }
        }
        let allDone = Task { for lane in lanes { await lane.value } }
        await shutdown.wait()
        logger.info("shutdown requested; finishing messages in hand", metadata: ["in.hand": "\(state.inHandCount)"])

        let finished = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await allDone.value
                return true
            }
            group.addTask { [drainTimeout = options.drainTimeout] in
                try? await Task.sleep(for: .seconds(drainTimeout))
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        let counts = state.counts
        let summary: Logger.Metadata = [
            "completed": "\(counts.completed)", "retried": "\(counts.retried)", "dead.lettered": "\(counts.deadLettered)",
        ]
        if finished {
            logger.info("worker stopped", metadata: summary)
            return .drained
        }
        let released = releaseEverythingInHand()
        logger.warning("drain timeout passed; released unfinished messages", metadata: summary.merging(["released": "\(released)"]) { $1 })
        return .drainTimedOut(released: released)
    }

    /// Receives one batch (waiting up to `wait` seconds), handles it and returns how many
    /// messages were processed: the `--once` mode.
    public func runOnce(wait: TimeInterval) async throws -> Int {
        let batch = try await bus.receive(
            from: options.queue, maxMessages: options.batchSize,
            visibilityTimeout: nil, wait: wait)
        guard !batch.isEmpty else { return 0 }
        await process(batch)
        return batch.count
    }

    private func lane(_ lane: Int, shutdown: ShutdownSignal) async {
        var failures = 0
        while !shutdown.isTriggered {
            do {
                let batch = try await bus.receive(
                    from: options.queue, maxMessages: options.batchSize,
                    visibilityTimeout: nil, wait: options.pollWait)
                failures = 0
                if batch.isEmpty { continue }
                if shutdown.isTriggered {
                    // Taken in the instant shutdown began: give them straight back.
                    for message in batch { try? bus.release(message, delay: 0) }
                    break
                }
                await process(batch)
            } catch {
                failures += 1
                let backoff = Self.receiveBackoff.delay(afterAttempt: failures)
                logger.error(
                    "receive failed; retrying",
                    metadata: [
                        "queue": "\(options.queue)", "lane": "\(lane)", "error": "\(error)", "backoff.s": "\(backoff)",
                    ])
                try? await Task.sleep(for: .seconds(backoff))
            }
        }
    }

    private func process(_ batch: [ReceivedMessage]) async {
        state.take(batch)
        let outcomes = await handler.handle(batch, logger: logger)
        for (index, message) in batch.enumerated() {
            let outcome =
                index < outcomes.count
                ? outcomes[index]
                : .retry(delay: 0, reason: "handler returned no outcome for this message")
            apply(outcome, to: message)
            state.finish(message, outcome: outcome)
        }
    }

    private func apply(_ outcome: MessageOutcome, to message: ReceivedMessage) {
        var metadata = message.logMetadata
        do {
            switch outcome {
            case .completed:
                try bus.delete(message)
            case .retry(let delay, let reason):
                metadata["reason"] = "\(reason)"
                metadata["retry.in.s"] = "\(delay)"
                logger.warning("message failed; will retry", metadata: metadata)
                try bus.release(message, delay: delay)
            case .deadLetter(let reason):
                metadata["reason"] = "\(reason)"
                logger.error("message dead-lettered", metadata: metadata)
                try bus.deadLetter(message, reason: reason)
            }
        } catch {
            metadata["error"] = "\(error)"
            logger.warning("could not settle message; it will reappear after its visibility timeout", metadata: metadata)
        }
    }

    private func releaseEverythingInHand() -> Int {
        let inHand = state.drainInHand()
        for message in inHand { try? bus.release(message, delay: 0) }
        return inHand.count
    }
}

/// Lock-protected bookkeeping of the messages in hand and the counts.
private final class LoopState: @unchecked Sendable {
    private let lock = NSLock()
    private var inHand: [String: ReceivedMessage] = [:]
    private var _counts = WorkerCounts()

    var counts: WorkerCounts { lock.withLock { _counts } }
    var inHandCount: Int { lock.withLock { inHand.count } }

    func take(_ batch: [ReceivedMessage]) {
        lock.withLock { for message in batch { inHand[message.receipt] = message } }
    }

    func finish(_ message: ReceivedMessage, outcome: MessageOutcome) {
        lock.withLock {
            inHand[message.receipt] = nil
            switch outcome {
            case .completed: _counts.completed += 1
            case .retry: _counts.retried += 1
            case .deadLetter: _counts.deadLettered += 1
            }
        }
    }

    func drainInHand() -> [ReceivedMessage] {
        lock.withLock {
            defer { inHand.removeAll() }
            return Array(inHand.values)
        }
    }
}
