import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The width table output is fitted to.
public enum TerminalWidth {
    /// Used when standard output is not a terminal and `$COLUMNS` is unset.
    public static let fallback = 100

    /// `$COLUMNS` if set (an explicit wish wins), else the terminal's width, else `fallback`.
    public static func current(environment: [String: String] = ProcessInfo.processInfo.environment) -> Int {
        if let text = environment["COLUMNS"], let columns = Int(text), columns > 0 { return columns }
        var size = winsize()
        if isatty(STDOUT_FILENO) != 0, ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 {
            return Int(size.ws_col)
        }
        return fallback
    }
}
