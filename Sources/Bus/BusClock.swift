import Foundation

/// The bus's source of "now", injectable so visibility timeouts, delays and retention can be
/// tested by moving time forward instead of sleeping.
public struct BusClock: Sendable {
    private let read: @Sendable () -> Date

    /// A clock that reads `now` from a closure.
    public init(_ now: @escaping @Sendable () -> Date) { self.read = now }

    /// The current time according to this clock.
    public func now() -> Date { read() }

    /// The wall clock.
    public static let system = BusClock { Date() }

    /// A clock driven by `manual` (tests).
    public static func manual(_ manual: ManualClock) -> BusClock { BusClock { manual.now } }
}

/// A settable time source for tests: starts at a given date and moves only when told.
public final class ManualClock: @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date

    /// A clock standing at `start`.
    public init(start: Date = Date()) { current = start }

    /// The clock's current time.
    public var now: Date { lock.withLock { current } }

    /// Moves the clock forward by `seconds`.
    public func advance(by seconds: TimeInterval) { lock.withLock { current += seconds } }
}
