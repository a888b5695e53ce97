import Foundation

/// What a finished child process produced.
public struct ProcessOutput: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// Runs real executables from tests, with input, environment and a generous deadline.
public enum ProcessRunner {
    /// Runs `executable` to completion. A process still running after `timeout` seconds is
    /// killed and reported with status -9, so a hang fails the test instead of blocking CI.
    public static func run(
        _ executable: URL, _ arguments: [String], stdin: Data? = nil,
        environment: [String: String] = [:], timeout: TimeInterval = 300
    ) throws -> ProcessOutput {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe()
        let err = Pipe()
        let input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try launch(process)
        if let stdin { input.fileHandleForWriting.write(stdin) }
        try? input.fileHandleForWriting.close()

        // Drain both pipes concurrently so a chatty child never blocks on a full pipe.
        let collected = Collected()
        let group = DispatchGroup()
        for (pipe, isOut) in [(out, true), (err, false)] {
            group.enter()
            DispatchQueue.global().async {
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                collected.set(data, isOut: isOut)
                group.leave()
            }
        }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        var timedOut = false
        if process.isRunning {
            timedOut = true
            // A hung script's children (servers, workers) would otherwise outlive the test.
            for pid in descendants(of: process.processIdentifier) { kill(pid, SIGKILL) }
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        group.wait()
        return ProcessOutput(
            status: timedOut ? -9 : process.terminationStatus,
            stdout: String(decoding: collected.out, as: UTF8.self),
            stderr: String(decoding: collected.err, as: UTF8.self))
    }

    /// `run` for async code: waits on a thread of its own. A test blocking on a child inside a
    /// task holds one of the few threads of the cooperative pool (2 on 2 cores); two such
    /// tests at once leave none for in-process servers (TestHTTPServer) the child talks to,
    /// which then stop answering ("Operation too slow" in fetch-image).
    public static func run(
        _ executable: URL, _ arguments: [String], stdin: Data? = nil,
        environment: [String: String] = [:], timeout: TimeInterval = 300
    ) async throws -> ProcessOutput {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(
                    with: Result { try run(executable, arguments, stdin: stdin, environment: environment, timeout: timeout) as ProcessOutput })
            }.start()
        }
    }

    /// Starts `executable` in the background with its output appended to `logFile`.
    public static func start(
        _ executable: URL, _ arguments: [String], logFile: URL,
        environment: [String: String] = [:]
    ) throws -> Process {
        FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let handle = try FileHandle(forWritingTo: logFile)
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try launch(process)
        return process
    }

    /// Starts `process` from a thread that blocks no signals. A child inherits the spawning
    /// thread's signal mask, and the test runner's threads block SIGTERM and SIGINT: a shell
    /// script started from them could never run its traps (and `kill -TERM` would not stop it).
    static func launch(_ process: Process) throws {
        let outcome = LaunchOutcome()
        let thread = Thread {
            var none = sigset_t()
            sigemptyset(&none)
            pthread_sigmask(SIG_SETMASK, &none, nil)
            do { try process.run() } catch { outcome.error = error }
            outcome.done.signal()
        }
        thread.start()
        outcome.done.wait()
        if let error = outcome.error { throw error }
    }

    /// Every process below `root` in the process tree (from /proc), deepest last.
    static func descendants(of root: pid_t) -> [pid_t] {
        var children: [pid_t: [pid_t]] = [:]
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let pid = pid_t(entry),
                let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            // Fields after "(comm)": state, ppid, ...
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, let parent = pid_t(fields[1]) { children[parent, default: []].append(pid) }
        }
        var result: [pid_t] = []
        var frontier = [root]
        while let next = frontier.popLast() {
            for child in children[next] ?? [] {
                result.append(child)
                frontier.append(child)
            }
        }
        return result
    }
}

private final class LaunchOutcome: @unchecked Sendable {
    let done = DispatchSemaphore(value: 0)
    var error: (any Error)?
}

private final class Collected: @unchecked Sendable {
    private let lock = NSLock()
    private var _out = Data(), _err = Data()
    func set(_ data: Data, isOut: Bool) { lock.withLock { if isOut { _out = data } else { _err = data } } }
    var out: Data { lock.withLock { _out } }
    var err: Data { lock.withLock { _err } }
}

/// A fresh temporary directory per test, removed by `remove()`.
public struct TemporaryDirectory: Sendable {
    public let url: URL
    public init(_ prefix: String = "pipeline-test") throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    public func remove() { try? FileManager.default.removeItem(at: url) }
}
