import Foundation
import Logging

/// Sessions of one model for the input sizes it is asked to run at (a text detector sees every image's
/// aspect ratio, a recognizer every line's width), made on first use of a size and kept for the last few
/// sizes used. The file is parsed once; a new size lowers the graph again (its shapes are folded for
/// that size) and packs the weights for it, which costs about as much as one inference of a mid-sized
/// model, so callers round sizes to a few steps (multiples of 32 or 64) to keep hitting the cache.
public final class SessionsBySize: @unchecked Sendable {
    public let model: ONNXModel
    public let pool: InferenceThreads
    /// How many sizes stay built.
    public let capacity: Int
    private let logger: Logger
    private let lock = NSLock()
    private var sessions: [[Int]: InferenceSession] = [:]
    private var lastUse: [[Int]: UInt64] = [:]
    private var clock: UInt64 = 0
    private var built = 0
    /// Sessions built so far (a size evicted and asked for again is built again).
    public var builds: Int { lock.withLock { built } }

    /// Sessions of `model` on `pool`'s threads.
    public init(model: ONNXModel, pool: InferenceThreads, capacity: Int = 6, logger: Logger = Logger(label: "Inference")) {
        self.model = model
        self.pool = pool
        self.capacity = max(1, capacity)
        self.logger = logger
    }

    /// The session for inputs of `size` (the axes after the batch), batch 1.
    public func session(for size: [Int]) throws -> InferenceSession {
        try lock.withLock {
            clock += 1
            if let found = sessions[size] {
                lastUse[size] = clock
                return found
            }
            let made = try InferenceSession(model: model, batchSize: 1, pool: pool, inputSize: size, logger: logger)
            built += 1
            if sessions.count >= capacity, let oldest = lastUse.min(by: { $0.value < $1.value })?.key {
                sessions[oldest] = nil
                lastUse[oldest] = nil
            }
            sessions[size] = made
            lastUse[size] = clock
            return made
        }
    }
}
