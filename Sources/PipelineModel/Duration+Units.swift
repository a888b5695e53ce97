/// Durations as the plain numbers that timings, logs and summaries carry.
extension Duration {
    /// In seconds, with fractions.
    public var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    /// In milliseconds, with fractions.
    public var inMilliseconds: Double { inSeconds * 1000 }
}
