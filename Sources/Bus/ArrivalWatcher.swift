import Dispatch
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Wakes long-polling receivers as soon as a message file lands in a queue's `ready/`
/// directory (inotify: a publisher's link or a release's rename), instead of them looking
/// every few milliseconds. A receiver still looks at least every `FileBus.idleLookInterval`,
/// because delayed messages and expired claims become visible by time, not by a file event.
final class ArrivalWatcher: @unchecked Sendable {
    private let descriptor: Int32
    private let source: DispatchSourceRead
    private let lock = NSLock()
    private var generation = 0
    private var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    private var nextWaiter: UInt64 = 0
    private static let queue = DispatchQueue(label: "bus.arrivals")

    /// Watches `directory`; nil when inotify is unavailable (receivers then poll).
    init?(directory: String) {
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { return nil }
        guard inotify_add_watch(fd, directory, UInt32(IN_CREATE | IN_MOVED_TO)) >= 0 else {
            close(fd)
            return nil
        }
        descriptor = fd
        source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: Self.queue)
        source.setEventHandler { [weak self] in self?.drainEvents() }
        source.setCancelHandler { close(fd) }
        source.resume()
    }

    deinit { source.cancel() }

    /// Changes every time files arrive; read it before looking at the queue, and pass it to
    /// `wait` so an arrival in between is not missed.
    var currentGeneration: Int { lock.withLock { generation } }

    /// Returns when files arrived after `seen`, or after `timeout`, whichever comes first.
    func wait(after seen: Int, timeout: Duration) async {
        let id: UInt64 = lock.withLock {
            nextWaiter += 1
            return nextWaiter
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let arrived = lock.withLock { () -> Bool in
                if generation != seen { return true }
                waiters[id] = continuation
                return false
            }
            if arrived {
                continuation.resume()
                return
            }
            let nanoseconds = max(0, timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000)
            Self.queue.asyncAfter(deadline: .now() + .nanoseconds(Int(nanoseconds))) { [weak self] in
                self?.resume(id)
            }
        }
    }

    private func resume(_ id: UInt64) {
        let waiter = lock.withLock { waiters.removeValue(forKey: id) }
        waiter?.resume()
    }

    private func drainEvents() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while buffer.withUnsafeMutableBytes({ read(descriptor, $0.baseAddress, $0.count) }) > 0 {}
        let woken = lock.withLock { () -> [CheckedContinuation<Void, Never>] in
            generation += 1
            defer { waiters.removeAll() }
            return Array(waiters.values)
        }
        for waiter in woken { waiter.resume() }
    }
}
