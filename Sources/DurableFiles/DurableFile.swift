import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A POSIX call on a file or directory that failed, with the errno it failed with.
public struct FileSystemError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The call, e.g. "open", "write", "fsync", "rename".
    public var call: String
    /// The file or directory (`from -> to` for renames and links).
    public var path: String
    public var errno: Int32

    public init(call: String, path: String, errno: Int32) {
        self.call = call
        self.path = path
        self.errno = errno
    }

    /// Whether the disk (or the user's quota) is full: the one failure an operator fixes by freeing space.
    public var isDiskFull: Bool { errno == ENOSPC || errno == EDQUOT }

    public var description: String { "\(call) \(path): \(String(cString: strerror(errno))) (errno \(errno))" }
}

/// The two system calls whose failures matter most for durability; tests swap them to
/// simulate a full disk or a failing fsync without filling a real one.
public struct FileIO: Sendable {
    /// `write(2)`: returns bytes written or -1 with `errno` set.
    public var write: @Sendable (Int32, UnsafeRawPointer, Int) -> Int
    /// `fsync(2)`: returns 0 or -1 with `errno` set.
    public var fsync: @Sendable (Int32) -> Int32

    /// An IO table from the two calls.
    public init(
        write: @escaping @Sendable (Int32, UnsafeRawPointer, Int) -> Int,
        fsync: @escaping @Sendable (Int32) -> Int32
    ) {
        self.write = write
        self.fsync = fsync
    }

    /// The real system calls.
    public static let posix = FileIO(
        write: { fd, buffer, count in Foundation.write(fd, buffer, count) },
        fsync: { fd in Foundation.fsync(fd) })
}

/// The crash-safe file mechanics the bus, the image store and the mail sink rest on: exclusive
/// create, fsync of files and directories, link, rename and unlink, each turning errno into a
/// `FileSystemError`. A file is written whole under a temporary name nobody reads, then moved
/// into place by one atomic rename or link, then its directory is synced.
public enum DurableFile {
    /// Creates `path` exclusively (O_EXCL), writes `data`, fsyncs and closes it. A partial file
    /// is removed; one left behind by a crash lives only under a temporary name.
    public static func writeNew(_ data: Data, to path: String, io: FileIO = .posix) throws(FileSystemError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileSystemError(call: "open", path: path, errno: errno) }
        var failure: (call: String, errno: Int32)?
        data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
            guard let base = buffer.baseAddress else { return }
            var offset = 0
            while offset < buffer.count {
                let written = io.write(fd, base + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = ("write", errno)
                    return
                }
                if written == 0 {
                    failure = ("write", EIO)
                    return
                }
                offset += written
            }
        }
        if failure == nil, io.fsync(fd) != 0 { failure = ("fsync", errno) }
        if close(fd) != 0, failure == nil { failure = ("close", errno) }
        if let failure {
            Foundation.unlink(path)
            throw FileSystemError(call: failure.call, path: path, errno: failure.errno)
        }
    }

    /// Makes the directory's entries (renames, links, unlinks) durable.
    public static func syncDirectory(_ path: String, io: FileIO = .posix) throws(FileSystemError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw FileSystemError(call: "open directory", path: path, errno: errno) }
        defer { close(fd) }
        guard io.fsync(fd) == 0 else { throw FileSystemError(call: "fsync directory", path: path, errno: errno) }
    }

    /// Outcome of a rename or link whose source may have been taken by someone else.
    public enum MoveResult: Sendable { case moved, sourceGone, targetExists }

    /// Atomically renames; `sourceGone` when another process moved or deleted the source first.
    public static func rename(_ from: String, _ to: String) throws(FileSystemError) -> MoveResult {
        if Foundation.rename(from, to) == 0 { return .moved }
        let code = errno
        if code == ENOENT { return .sourceGone }
        throw FileSystemError(call: "rename", path: "\(from) -> \(to)", errno: code)
    }

    /// Hard-links without ever replacing an existing name (`targetExists` when it is taken).
    public static func link(_ from: String, _ to: String) throws(FileSystemError) -> MoveResult {
        if Foundation.link(from, to) == 0 { return .moved }
        let code = errno
        if code == EEXIST { return .targetExists }
        if code == ENOENT { return .sourceGone }
        throw FileSystemError(call: "link", path: "\(from) -> \(to)", errno: code)
    }

    /// Removes a file; false when it was already gone.
    @discardableResult
    public static func unlink(_ path: String) throws(FileSystemError) -> Bool {
        if Foundation.unlink(path) == 0 { return true }
        let code = errno
        if code == ENOENT { return false }
        throw FileSystemError(call: "unlink", path: path, errno: code)
    }

    /// Names in a directory (no `.` / `..`), unsorted; empty when it does not exist.
    public static func list(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The whole file, or nil when it does not exist (any other failure throws).
    public static func read(_ path: String) throws(FileSystemError) -> Data? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw FileSystemError(call: "open", path: path, errno: errno)
        }
        defer { close(fd) }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw FileSystemError(call: "read", path: path, errno: errno)
            }
            if count == 0 { break }
            data.append(contentsOf: buffer[0..<count])
        }
        return data
    }

    /// Modification time of a file, nil when it does not exist.
    public static func modificationTime(_ path: String) -> Date? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Date(timeIntervalSince1970: Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9)
    }

    /// Creates a directory and its parents if missing (another process creating it too is fine).
    public static func makeDirectory(_ path: String) throws(FileSystemError) {
        if mkdir(path, 0o755) == 0 || errno == EEXIST { return }
        guard errno == ENOENT else { throw FileSystemError(call: "mkdir", path: path, errno: errno) }
        let parent = (path as NSString).deletingLastPathComponent
        guard !parent.isEmpty, parent != path else { throw FileSystemError(call: "mkdir", path: path, errno: ENOENT) }
        try makeDirectory(parent)
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else { throw FileSystemError(call: "mkdir", path: path, errno: errno) }
    }
}
