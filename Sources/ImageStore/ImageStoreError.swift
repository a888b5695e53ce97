import Foundation

/// Why an image could not be stored; the text names the path, the failed call and what to do.
public enum ImageStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file extension is not a short lowercase alphanumeric word.
    case invalidExtension(String)
    /// The `ab/cd` directory could not be created.
    case createDirectory(path: String, detail: String)
    /// A system call on the file failed with `errno`.
    case write(path: String, operation: String, errno: Int32)
    /// The shared store's database failed (`transient`: unreachable, worth retrying).
    case database(location: String, detail: String, transient: Bool)
    /// The stored image is not there (or its bytes do not match its id).
    case missing(storedPath: String)

    public var description: String {
        switch self {
        case .invalidExtension(let ext):
            return "invalid image file extension \"\(ext)\"; use a short lowercase one such as jpg or png"
        case .createDirectory(let path, let detail):
            return "cannot create image store directory \(path): \(detail); check permissions and free space of the pipeline home"
        case .write(let path, let operation, let code):
            let hint =
                code == ENOSPC || code == EDQUOT
                ? "free disk space in the pipeline home and fetch again"
                : "check permissions and the file system of the pipeline home"
            return "cannot store image \(path): \(operation) failed: \(String(cString: strerror(code))) (errno \(code)); nothing was kept; \(hint)"
        case .database(let location, let detail, _):
            return "the image store at \(location) failed: \(detail)"
        case .missing(let storedPath):
            return "stored image is missing at \(storedPath); refetch it with fetch-image --force"
        }
    }
}
