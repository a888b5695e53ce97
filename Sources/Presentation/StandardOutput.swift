import Foundation

/// Writing results to standard output.
public enum StandardOutput {
    /// Writes `text` unbuffered, so a reader sees it even if the process is killed next.
    public static func write(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    /// Writes `line` and a newline, unbuffered.
    public static func line(_ line: String) { write(line + "\n") }
}
