import Foundation
import Logging

/// Records in the label store when the gateway accepted each image's notification (the
/// `notified_at` that list-images shows), off the delivery path.
///
/// Acceptances are collected and written in one transaction every `interval` (or once
/// `batchLimit` are waiting), so a burst of deliveries costs the database a few commits, not one
/// per message. A failed write (the database restarting) is kept and retried with backoff; the
/// notification itself is delivered and acked either way. At most `maxPending` wait (memory is
/// bounded; past that the oldest are dropped with a warning: `notified_at` is information, not
/// state the pipeline acts on).
public final class NotifiedRecorder: @unchecked Sendable {
    /// Writes a batch of (image id, accepted at) pairs in one transaction.
    public typealias Writer = @Sendable ([(imageID: String, at: Date)]) throws -> Void

    private let write: Writer
    private let logger: Logger
    private let interval: TimeInterval
    private let batchLimit: Int
    private let lock = NSLock()
    private var pending: [(imageID: String, at: Date)] = []
    private var flushScheduled = false
    private let queue = DispatchQueue(label: "notify.recorder")
    private var failures = 0
    /// The most acceptances kept waiting while the store cannot be written.
    public static let maxPending = 100_000

    /// A recorder writing through `write`.
    public init(interval: TimeInterval = 0.25, batchLimit: Int = 256, logger: Logger, write: @escaping Writer) {
        self.write = write
        self.logger = logger
        self.interval = interval
        self.batchLimit = batchLimit
    }

    /// Notes that the gateway accepted `imageID`'s notification at `at`.
    public func record(imageID: String, at: Date) {
        let (flushNow, schedule): (Bool, Bool) = lock.withLock {
            pending.append((imageID, at))
            if pending.count >= batchLimit { return (true, false) }
            guard !flushScheduled else { return (false, false) }
            flushScheduled = true
            return (false, true)
        }
        if flushNow {
            queue.async { self.flush() }
        } else if schedule {
            queue.asyncAfter(deadline: .now() + interval) { self.flush() }
        }
    }

    /// Writes everything waiting now (call before exiting).
    public func close() { queue.sync { flush() } }

    private func flush() {
        let batch: [(imageID: String, at: Date)] = lock.withLock {
            flushScheduled = false
            defer { pending.removeAll() }
            return pending
        }
        guard !batch.isEmpty else { return }
        do {
            try write(batch)
            failures = 0
        } catch {
            // Keep them (oldest first) and try again later; a restarted database comes back.
            failures += 1
            let delay = min(30, 0.5 * pow(2, Double(min(failures, 6))))
            let dropped: Int = lock.withLock {
                pending = batch + pending
                let excess = max(0, pending.count - Self.maxPending)
                if excess > 0 { pending.removeFirst(excess) }
                flushScheduled = true
                return excess
            }
            logger.warning(
                "could not record notified_at yet; retrying (the notifications were delivered)",
                metadata: ["images": "\(batch.count)", "error": "\(error)", "retry.s": "\(delay)", "dropped": "\(dropped)"])
            queue.asyncAfter(deadline: .now() + delay) { self.flush() }
        }
    }
}
