import Foundation

/// What can stop the mail sink from starting or storing.
public enum MailSinkError: Error, CustomStringConvertible {
    /// A file-system call on the outbox failed.
    case outbox(operation: String, path: String, errno: Int32)
    /// The server could not listen.
    case listen(port: UInt16, detail: String)

    public var description: String {
        switch self {
        case .outbox(let operation, let path, let code):
            return
                "outbox \(operation) failed for \(path): \(String(cString: strerror(code))) (errno \(code)); check that the --outbox directory is writable and the disk is not full"
        case .listen(let port, let detail):
            return "cannot listen on 127.0.0.1:\(port): \(detail); pick another --port, or 0 for any free one"
        }
    }
}
