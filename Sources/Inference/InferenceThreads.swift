import CXNNPack

/// Worker threads that several sessions share (a text reader's detector, orientation classifier and
/// recognizer run one after another on each image). Each session otherwise makes its own pool: with
/// three pools of two threads on two cores, one model's threads were still spinning while the next
/// model ran, and recognition took 2-4x its time alone.
///
/// Sessions on one pool may be called from several threads: the pool runs one parallel operation at a
/// time, so their operators take turns.
public final class InferenceThreads: @unchecked Sendable {
    /// Threads per parallel operation (the caller's included).
    public let count: Int
    let pool: pthreadpool_t?

    /// A pool of `count` threads; 1 makes no pool (everything runs on the caller's thread).
    public init(count: Int) throws {
        guard count >= 1 else { throw InferenceError.invalidModel(detail: "thread count \(count) must be at least 1") }
        self.count = count
        if count > 1 {
            guard let made = pthreadpool_create(count) else { throw InferenceError.backend(call: "pthreadpool_create(\(count))", status: -1) }
            pool = made
        } else {
            pool = nil
        }
    }

    deinit {
        if let pool { pthreadpool_destroy(pool) }
    }
}
