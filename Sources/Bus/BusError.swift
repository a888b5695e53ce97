import Foundation

/// Everything that can go wrong in the bus, with the path, the errno text and what to do.
public struct BusError: Error, CustomStringConvertible, Sendable {
    /// The broad kind of failure, for callers that react differently to each.
    public enum Kind: String, Sendable {
        /// A file-system call failed (disk full, permissions, ...).
        case io
        /// The receipt no longer names a claim: the visibility timeout ran out and the message
        /// was reclaimed, or it was already acked.
        case staleReceipt
        /// The queue or topic does not exist.
        case notFound
        /// A queue, topic or message id is not usable as a file name.
        case invalidName
        /// A stored file could not be decoded.
        case corrupt
    }

    public var kind: Kind
    /// What the bus was doing, e.g. "publish to image.stored".
    public var operation: String
    /// The file or directory involved, if any.
    public var path: String?
    /// The errno of a failed system call, if any.
    public var errno: Int32?
    /// What the operator or caller should do about it.
    public var hint: String

    public init(_ kind: Kind, operation: String, path: String? = nil, errno: Int32? = nil, hint: String) {
        self.kind = kind
        self.operation = operation
        self.path = path
        self.errno = errno
        self.hint = hint
    }

    public var description: String {
        var text = "bus: \(operation) failed"
        if let path { text += " (\(path))" }
        if let errno { text += ": \(String(cString: strerror(errno)))" }
        return text + ". " + hint
    }

    static func io(_ operation: String, path: String, errno: Int32, hint: String? = nil) -> BusError {
        BusError(
            .io, operation: operation, path: path, errno: errno,
            hint: hint ?? "Check that the bus directory exists, is writable and the disk is not full.")
    }
}
