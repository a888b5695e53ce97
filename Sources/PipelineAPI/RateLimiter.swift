import Foundation
import Synchronization

/// Token buckets, one per key: each holds up to `burst` tokens, refilled at `rate` a second;
/// a request takes one. Memory is one entry per key name (keys come from the key file, so the
/// set is bounded).
public final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    private let buckets = Mutex<[String: Bucket]>([:])

    public init() {}

    /// Takes a token for `key`; nil when allowed, else the seconds until a token is there.
    public func take(key: String, rate: Double, burst: Int, now: ContinuousClock.Instant = .now) -> Double? {
        buckets.withLock { buckets in
            var bucket = buckets[key] ?? Bucket(tokens: Double(burst), updated: now)
            let elapsed = (now - bucket.updated).inSeconds
            bucket.tokens = min(Double(burst), bucket.tokens + max(0, elapsed) * rate)
            bucket.updated = now
            defer { buckets[key] = bucket }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return nil
            }
            return (1 - bucket.tokens) / rate
        }
    }
}

extension Duration {
    /// The duration in seconds, as a Double.
    var inSeconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
