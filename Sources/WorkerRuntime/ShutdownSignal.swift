import Dispatch
import Foundation

/// Turns SIGTERM and SIGINT into a graceful-shutdown request that worker loops poll.
///
/// The first signal asks loops to stop taking new messages and finish the ones in hand; the
/// process exits when they are done (or the drain timeout passes and they are released).
public final class ShutdownSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var triggered = false
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private var sources: [DispatchSourceSignal] = []

    /// A signal not yet wired to the process: trigger it by hand (tests, `--once`).
    public init() {}

    /// Listens for SIGTERM and SIGINT (the default actions are disabled).
    public static func listening(to signals: [Int32] = [SIGTERM, SIGINT]) -> ShutdownSignal {
        let shutdown = ShutdownSignal()
        for number in signals {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [weak shutdown] in shutdown?.trigger() }
            source.resume()
            shutdown.sources.append(source)
        }
        return shutdown
    }

    /// Whether shutdown was requested.
    public var isTriggered: Bool { lock.withLock { triggered } }

    /// Requests shutdown and wakes everyone waiting.
    public func trigger() {
        let toResume: [CheckedContinuation<Void, Never>] = lock.withLock {
            guard !triggered else { return [] }
            triggered = true
            defer { waiters.removeAll() }
            return waiters
        }
        for waiter in toResume { waiter.resume() }
    }

    /// Suspends until shutdown is requested.
    public func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow: Bool = lock.withLock {
                if triggered { return true }
                waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }
}
