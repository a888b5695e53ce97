import ArgumentParser
import Logging
import PipelineModel

/// `--home`: the pipeline home directory every worker shares.
public struct HomeOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Pipeline home directory (bus, image store, label database, logs).",
            discussion: "Defaults to $\(PipelineHome.environmentVariable), else ~/.image-pipeline.",
            valueName: "dir"))
    public var home: String?

    public init() {}

    /// The resolved home.
    public var pipelineHome: PipelineHome { PipelineHome.resolve(home) }
}

/// `--log-level` and `--log-format`, shared by every executable.
public struct LoggingOptions: ParsableArguments {
    @Option(name: .long, help: "Minimum log level: trace, debug, info, notice, warning, error, critical.")
    public var logLevel: Logger.Level = .info

    @Option(name: .long, help: "Log line format: text (key=value) or json (one object per line).")
    public var logFormat: LogFormat = .text

    public init() {}

    /// Sets up swift-log for this process (call once, first thing in `run()`) and returns the
    /// root logger labelled with the executable's name.
    public func bootstrap(label: String) -> Logger {
        LogSetup.bootstrap(level: logLevel, format: logFormat)
        return Logger(label: label)
    }
}

// Log levels are swift-log's and the protocol is ArgumentParser's: the conformance can live nowhere else.
// swift-format-ignore: AvoidRetroactiveConformances
extension Logger.Level: @retroactive ExpressibleByArgument {}
