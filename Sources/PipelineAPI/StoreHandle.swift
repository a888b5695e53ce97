import Foundation
import LabelStore
import Logging
import PipelineModel
import Synchronization

/// The label store, opened on first use and kept: the API may start before any image was
/// recognized (no SQLite database yet) or while the shared database is down, and then answers 503
/// until the store can be opened.
public final class StoreHandle: Sendable {
    private let open: @Sendable () throws -> any LabelStoring
    private let logger: Logger
    private let opened = Mutex<(any LabelStoring)?>(nil)

    /// The home's SQLite database, read-only.
    public convenience init(home: PipelineHome, logger: Logger) {
        self.init(logger: logger) { try LabelDatabase.openReadOnly(home: home, logger: logger) }
    }

    /// The store `open` opens (retried on each request until it succeeds).
    public init(logger: Logger, open: @escaping @Sendable () throws -> any LabelStoring) {
        self.open = open
        self.logger = logger
    }

    /// The open store; throws 503 (no database yet, or it cannot be opened) with the reason.
    public func store() throws(APIError) -> any LabelStoring {
        if let store = opened.withLock({ $0 }) { return store }
        do {
            let store = try open()
            opened.withLock { $0 = store }
            return store
        } catch LabelStoreError.databaseMissing {
            throw .unavailable("no image has been recognized yet (the label database does not exist); start the recognize worker")
        } catch {
            throw .unavailable("the label database cannot be opened: \(error)")
        }
    }

    /// Runs a store query, answering store failures as API errors (bad queries 400, the rest 503).
    public func read<T>(_ body: (any LabelStoring) throws -> T) throws(APIError) -> T {
        let store = try store()
        do {
            return try body(store)
        } catch let error as APIError {
            throw error
        } catch LabelStoreError.invalidQuery(let reason) {
            throw .badRequest(reason)
        } catch LabelStoreError.invalidIDPrefix(let prefix) {
            throw .badRequest("'\(prefix)' is not an image id (64 hex digits, or a prefix of them)")
        } catch LabelStoreError.ambiguousPrefix(let prefix, let candidates) {
            throw APIError(
                .badRequest, code: "ambiguous_id", "the id prefix '\(prefix)' matches \(candidates.count) or more images; give more digits")
        } catch {
            logger.error("label store query failed", metadata: ["error": "\(error)"])
            throw .unavailable("the label database failed: \(error)")
        }
    }
}
