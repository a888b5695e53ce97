import Foundation

/// The one retry schedule of the pipeline: exponential growth from `initial`, capped at
/// `maximum`, with "equal jitter" (half of each delay fixed, half random), so that many workers
/// failing together spread their retries out instead of retrying in lockstep.
///
/// Used for download retries (fetch-image), gateway retries and queue hand-back delays
/// (notify-xml) and a worker loop's failed receives.
public struct Backoff: Sendable, Equatable {
    /// The delay before the first retry (before jitter).
    public var initial: TimeInterval
    /// Upper bound of any delay (before jitter).
    public var maximum: TimeInterval

    /// A schedule starting at `initial` seconds and never above `maximum`.
    public init(initial: TimeInterval, maximum: TimeInterval) {
        self.initial = max(0, initial)
        self.maximum = max(0, maximum)
    }

    /// The un-jittered delay after failure number `attempt` (1-based): `initial · 2^(attempt-1)`, capped.
    public func ceiling(afterAttempt attempt: Int) -> TimeInterval {
        // The exponent is capped so that a long-failing loop never overflows to infinity.
        min(maximum, initial * pow(2, Double(min(max(0, attempt - 1), 60))))
    }

    /// The delay after failure number `attempt` (1-based), jittered to between half and all of
    /// `ceiling(afterAttempt:)`.
    public func delay(afterAttempt attempt: Int) -> TimeInterval {
        var generator = SystemRandomNumberGenerator()
        return delay(afterAttempt: attempt, using: &generator)
    }

    /// `delay(afterAttempt:)` drawing from `generator` (tests pass a seeded one).
    public func delay<G: RandomNumberGenerator>(afterAttempt attempt: Int, using generator: inout G) -> TimeInterval {
        let ceiling = ceiling(afterAttempt: attempt)
        guard ceiling > 0 else { return 0 }
        return ceiling / 2 + Double.random(in: 0...(ceiling / 2), using: &generator)
    }
}
