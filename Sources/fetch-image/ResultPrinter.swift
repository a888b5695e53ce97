import Fetching
import Foundation

/// Prints result lines on standard output and, on a terminal, a progress line on standard
/// error that is cleared before each result so the two never mix.
final class ResultPrinter: @unchecked Sendable {
    private let lock = NSLock()
    private let format: ResultFormat
    private let showProgress: Bool
    private let total: Int?
    private var counts = FetchSummary()
    private let started = Date()

    init(format: ResultFormat, showProgress: Bool, total: Int?) {
        self.format = format
        self.showProgress = showProgress
        self.total = total
    }

    /// Prints one result (called concurrently from download tasks).
    func print(_ result: FetchResult) {
        lock.withLock {
            counts.add(result)
            if showProgress { writeError("\r\u{1B}[2K") }
            let line = format == .json ? result.jsonLine : result.textLine
            FileHandle.standardOutput.write(Data((line + "\n").utf8))
            if showProgress { writeError(progressLine()) }
        }
    }

    /// Clears the progress line and prints the summary on standard error.
    func finish(_ summary: FetchSummary) {
        lock.withLock {
            if showProgress { writeError("\r\u{1B}[2K") }
            writeError("\(summary)\n")
        }
    }

    private func progressLine() -> String {
        let done = counts.total
        let elapsed = max(Date().timeIntervalSince(started), 0.001)
        let rate = String(format: "%.1f/s", Double(done) / elapsed)
        let tally = "\(counts.ok) ok, \(counts.duplicates) dup, \(counts.failed) failed, \(rate)"
        guard let total, total > 0 else { return "[\(done) done] \(tally)" }
        let width = 30
        let filled = min(width, done * width / total)
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        return "[\(bar)] \(done)/\(total)  \(tally)"
    }

    private func writeError(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
