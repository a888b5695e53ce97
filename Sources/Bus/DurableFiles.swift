import DurableFiles
import Foundation

/// The bus's view of `DurableFile`: the same calls, each failure turned into a `BusError` that
/// names what the bus was doing (`operation`) and what to check.
enum DurableFiles {
    typealias MoveResult = DurableFile.MoveResult

    static func writeNew(_ data: Data, to path: String, operation: String) throws {
        try mapped(operation) { () throws(FileSystemError) in try DurableFile.writeNew(data, to: path) }
    }

    static func syncDirectory(_ path: String, operation: String) throws {
        try mapped(operation) { () throws(FileSystemError) in try DurableFile.syncDirectory(path) }
    }

    static func rename(_ from: String, _ to: String, operation: String) throws -> MoveResult {
        try mapped(operation) { () throws(FileSystemError) in try DurableFile.rename(from, to) }
    }

    static func link(_ from: String, _ to: String, operation: String) throws -> MoveResult {
        try mapped(operation) { () throws(FileSystemError) in try DurableFile.link(from, to) }
    }

    @discardableResult
    static func unlink(_ path: String, operation: String) throws -> Bool {
        try mapped(operation) { () throws(FileSystemError) in try DurableFile.unlink(path) }
    }

    static func list(_ path: String) -> [String] { DurableFile.list(path) }

    static func read(_ path: String, operation: String) throws -> Data? {
        try mapped(operation) { () throws(FileSystemError) in try DurableFile.read(path) }
    }

    static func modificationTime(_ path: String) -> Date? { DurableFile.modificationTime(path) }

    static func makeDirectory(_ path: String, operation: String) throws {
        do { try DurableFile.makeDirectory(path) } catch {
            throw BusError(
                .io, operation: operation, path: path, errno: error.errno,
                hint: "Could not create the directory; check permissions.")
        }
    }

    private static func mapped<T>(_ operation: String, _ body: () throws(FileSystemError) -> T) throws(BusError) -> T {
        do { return try body() } catch { throw BusError.io(operation, path: error.path, errno: error.errno) }
    }
}
