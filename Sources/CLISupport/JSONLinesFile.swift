import Foundation

/// An append-only file of JSON lines that several threads (and processes) may write to: each
/// record is one `write(2)` on an `O_APPEND` descriptor, so lines never interleave.
public final class JSONLinesFile: @unchecked Sendable {
    /// The file written to.
    public let path: String
    private let descriptor: Int32
    private let lock = NSLock()
    private let encoder: JSONEncoder

    /// Opens (creating if needed) `path` for appending; `encoder` should produce single-line JSON.
    public init(path: String, encoder: JSONEncoder) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw CocoaError(
                .fileWriteUnknown,
                userInfo: [
                    NSFilePathErrorKey: path,
                    NSLocalizedDescriptionKey: "cannot open \(path) for appending: \(String(cString: strerror(errno)))",
                ])
        }
        self.path = path
        self.descriptor = fd
        self.encoder = encoder
    }

    deinit { close(descriptor) }

    /// Appends `value` as one line; returns false (and writes nothing) if it cannot be encoded
    /// or written: tracing must never stop the work it traces.
    @discardableResult
    public func append<Value: Encodable>(_ value: Value) -> Bool {
        guard var line = try? encoder.encode(value) else { return false }
        line.append(0x0A)
        return lock.withLock {
            line.withUnsafeBytes { raw in
                guard let base = raw.baseAddress else { return false }
                return write(descriptor, base, raw.count) == raw.count
            }
        }
    }
}
