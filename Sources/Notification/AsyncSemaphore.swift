import Foundation

/// A counting semaphore for async code: at most `permits` holders at once, waiters served in
/// arrival order. It bounds the requests in flight to the gateway across all worker lanes.
public final class AsyncSemaphore: @unchecked Sendable {
    private let lock = NSLock()
    private var available: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []
    /// The number of permits.
    public let permits: Int

    /// A semaphore with `permits` permits (at least one).
    public init(permits: Int) {
        self.permits = max(1, permits)
        self.available = max(1, permits)
    }

    /// Waits for a permit.
    public func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let granted: Bool = lock.withLock {
                if available > 0 {
                    available -= 1
                    return true
                }
                waiters.append(continuation)
                return false
            }
            if granted { continuation.resume() }
        }
    }

    /// Returns a permit, handing it straight to the longest waiter if there is one.
    public func release() {
        let next: CheckedContinuation<Void, Never>? = lock.withLock {
            if waiters.isEmpty {
                available = min(permits, available + 1)
                return nil
            }
            return waiters.removeFirst()
        }
        next?.resume()
    }

    /// Runs `body` holding a permit.
    public func withPermit<T: Sendable>(_ body: () async throws -> T) async rethrows -> T {
        await acquire()
        defer { release() }
        return try await body()
    }

    /// Permits currently held.
    public var inUse: Int { lock.withLock { permits - available } }
}
