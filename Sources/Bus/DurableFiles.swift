#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Thin wrappers over the POSIX calls the bus's crash safety rests on: exclusive create,
/// fsync of files and directories, link, rename and unlink, each turning errno into `BusError`.
enum DurableFiles {
    /// Creates `path` exclusively (O_EXCL), writes `data`, fsyncs and closes it. A partial file
    /// is removed; one left behind by a crash lives only under a tmp/ name nobody reads.
    static func writeNew(_ data: Data, to path: String, operation: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BusError.io(operation, path: path, errno: errno) }
        var failure: Int32 = 0
        data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
            var offset = 0
            while offset < buffer.count {
                let written = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                offset += written
            }
        }
        if failure == 0, fsync(fd) != 0 { failure = errno }
        close(fd)
        if failure != 0 {
            Glibc.unlink(path)
            throw BusError.io(operation, path: path, errno: failure)
        }
    }

    /// Makes the directory's entries (renames, links, unlinks) durable.
    static func syncDirectory(_ path: String, operation: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw BusError.io(operation, path: path, errno: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw BusError.io(operation, path: path, errno: errno) }
    }

    /// Outcome of a rename or link whose source may have been taken by someone else.
    enum MoveResult { case moved, sourceGone, targetExists }

    /// Atomically renames; `sourceGone` when another process moved or deleted the source first.
    static func rename(_ from: String, _ to: String, operation: String) throws -> MoveResult {
        if Glibc.rename(from, to) == 0 { return .moved }
        let code = errno
        if code == ENOENT { return .sourceGone }
        throw BusError.io(operation, path: "\(from) -> \(to)", errno: code)
    }

    /// Hard-links without ever replacing an existing name.
    static func link(_ from: String, _ to: String, operation: String) throws -> MoveResult {
        if Glibc.link(from, to) == 0 { return .moved }
        let code = errno
        if code == EEXIST { return .targetExists }
        if code == ENOENT { return .sourceGone }
        throw BusError.io(operation, path: "\(from) -> \(to)", errno: code)
    }

    /// Removes a file; false when it was already gone.
    @discardableResult
    static func unlink(_ path: String, operation: String) throws -> Bool {
        if Glibc.unlink(path) == 0 { return true }
        let code = errno
        if code == ENOENT { return false }
        throw BusError.io(operation, path: path, errno: code)
    }

    /// Names in a directory (no `.` / `..`), unsorted; empty when it does not exist.
    static func list(_ path: String) -> [String] {
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
    static func read(_ path: String, operation: String) throws -> Data? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw BusError.io(operation, path: path, errno: errno)
        }
        defer { close(fd) }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw BusError.io(operation, path: path, errno: errno)
            }
            if count == 0 { break }
            data.append(contentsOf: buffer[0..<count])
        }
        return data
    }

    /// Modification time of a file, nil when it does not exist.
    static func modificationTime(_ path: String) -> Date? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Date(timeIntervalSince1970: Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9)
    }

    /// Creates a directory and its parents if missing.
    static func makeDirectory(_ path: String, operation: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw BusError(.io, operation: operation, path: path, hint: "Could not create the directory (\(error)); check permissions.")
        }
    }
}
