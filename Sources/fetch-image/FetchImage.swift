import ArgumentParser
import Bus
import CLISupport
import Fetching
import Foundation
import ImageStore
import Imaging
import PipelineModel
import WorkerRuntime

/// `fetch-image`: the pipeline's front door. URLs in, verified images in the store, one
/// `image.stored` event per new image out.
@main
struct FetchImage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch-image",
        abstract: "Download images, verify them, store them by content hash and publish image.stored.",
        discussion: """
            URLs come from the arguments, or else from standard input: one per line, optionally \
            followed by a tab and a name. Blank lines and lines starting with # are skipped.
            Prints one result line per URL on standard output and a summary on standard error.
            Exit status: 0 every URL succeeded (duplicates count as success), 2 some failed, \
            64 usage error, 1 the pipeline home or bus could not be opened.
            """,
        version: FetchConfiguration.version)

    @OptionGroup var home: HomeOptions
    @OptionGroup var logging: LoggingOptions
    @OptionGroup var database: DatabaseOptions

    @Argument(help: ArgumentHelp("URLs to fetch (default: read standard input).", valueName: "url"))
    var urls: [String] = []

    @Option(help: "Downloads in flight at once.")
    var parallel: Int = 8

    @Option(help: "Connections to one host at once.")
    var maxHostConnections: Int = 8

    @Option(help: ArgumentHelp("Seconds to establish a connection.", valueName: "seconds"))
    var connectTimeout: Double = 10

    @Option(help: ArgumentHelp("Seconds for a whole download, redirects included.", valueName: "seconds"))
    var timeout: Double = 60

    @Option(help: ArgumentHelp("Drop a download slower than this many bytes/s for --low-speed-time seconds.", valueName: "bytes"))
    var lowSpeedLimit: Int = 1024

    @Option(help: ArgumentHelp("See --low-speed-limit.", valueName: "seconds"))
    var lowSpeedTime: Int = 15

    @Option(help: "Redirects followed before giving up.")
    var maxRedirects: Int = 5

    @Option(help: ArgumentHelp("Largest image accepted, in bytes (checked while downloading).", valueName: "bytes"))
    var maxBytes: Int = 50 << 20

    @Option(help: "Refuse images with more pixels than this (decompression bombs).")
    var maxPixels: Int = 100_000_000

    @Option(help: "Extra attempts after a transient failure (5xx, timeout, connection reset).")
    var retries: Int = 2

    @Option(help: ArgumentHelp("First retry delay; doubles each attempt, with jitter.", valueName: "seconds"))
    var retryDelay: Double = 0.5

    @Flag(help: "Allow loopback, private, link-local and other non-public addresses (local use, demo, tests).")
    var allowPrivate = false

    @Option(help: ArgumentHelp("Allow non-public addresses for this host name only (repeatable).", valueName: "host"))
    var allowHost: [String] = []

    @Flag(help: "Accept file:// URLs (never as a redirect target).")
    var allowFile = false

    @Flag(help: "Publish image.stored again for images already in the store.")
    var force = false

    @Option(help: "Result lines: text or json (one object per line).")
    var format: ResultFormat = .text

    @Flag(help: "No progress bar on standard error (it is shown only when standard error is a terminal).")
    var noProgress = false

    func validate() throws {
        guard (1...1024).contains(parallel) else { throw ValidationError("--parallel must be between 1 and 1024") }
        guard maxHostConnections >= 1 else { throw ValidationError("--max-host-connections must be at least 1") }
        guard connectTimeout > 0, timeout > 0 else { throw ValidationError("timeouts must be positive") }
        guard lowSpeedLimit >= 0, lowSpeedTime >= 0 else { throw ValidationError("--low-speed-limit and --low-speed-time must not be negative") }
        guard (0...50).contains(maxRedirects) else { throw ValidationError("--max-redirects must be between 0 and 50") }
        guard maxBytes >= 1 else { throw ValidationError("--max-bytes must be at least 1") }
        guard maxPixels >= 1 else { throw ValidationError("--max-pixels must be at least 1") }
        guard (0...20).contains(retries) else { throw ValidationError("--retries must be between 0 and 20") }
        guard retryDelay >= 0 else { throw ValidationError("--retry-delay must not be negative") }
    }

    var fetchConfiguration: FetchConfiguration {
        var configuration = FetchConfiguration()
        configuration.parallel = parallel
        configuration.maxHostConnections = maxHostConnections
        configuration.connectTimeout = connectTimeout
        configuration.totalTimeout = timeout
        configuration.lowSpeedLimit = lowSpeedLimit
        configuration.lowSpeedTime = lowSpeedTime
        configuration.maxRedirects = maxRedirects
        configuration.maxBytes = maxBytes
        configuration.maxPixels = maxPixels
        configuration.retries = retries
        configuration.retryBaseDelay = retryDelay
        configuration.allowFile = allowFile
        configuration.force = force
        configuration.addressPolicy = AddressPolicy(allowPrivate: allowPrivate, allowedHosts: Set(allowHost))
        return configuration
    }

    func run() async throws {
        let logger = logging.bootstrap(label: "fetch-image")
        Vips.routeWarnings(to: logger)
        let pipelineHome = home.pipelineHome
        try pipelineHome.createDirectories()
        let bus = try database.openBus(home: pipelineHome, logger: logger)
        // Every worker declares the topology, so fetch-image may run before the others exist.
        try Topology.ensure(on: bus)
        let store = try database.openImageStore(home: pipelineHome, logger: logger)
        // Temporary files of fetchers killed mid-write (a cheap listing of images/.tmp/).
        let removed = (store as? ImageStore)?.removeStaleTemporaryFiles() ?? 0
        if removed > 0 { logger.notice("removed stale temporary image files", metadata: ["count": "\(removed)"]) }
        let fetcher = try Fetcher(configuration: fetchConfiguration, store: store, bus: bus, logger: logger)

        let total: Int? = urls.isEmpty ? nil : urls.count
        let output = ResultPrinter(format: format, showProgress: !noProgress && isatty(STDERR_FILENO) == 1, total: total)
        let summary = await fetcher.run(inputs: inputs(), report: { output.print($0) })
        output.finish(summary)
        if summary.exitCode != 0 { throw ExitCode(summary.exitCode) }
    }

    /// The arguments, or standard input read on its own thread so downloads start while
    /// later lines are still coming.
    private func inputs() -> AsyncStream<FetchInput> {
        let arguments = urls
        return AsyncStream { continuation in
            if !arguments.isEmpty {
                for argument in arguments {
                    if let input = FetchInput.parse(line: argument) { continuation.yield(input) }
                }
                continuation.finish()
                return
            }
            let reader = Thread {
                while let line = readLine(strippingNewline: true) {
                    if let input = FetchInput.parse(line: line) { continuation.yield(input) }
                }
                continuation.finish()
            }
            reader.name = "stdin-reader"
            reader.start()
        }
    }
}

/// How result lines are printed.
enum ResultFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}
