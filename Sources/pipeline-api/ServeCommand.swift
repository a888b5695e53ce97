import ArgumentParser
import Bus
import CLISupport
import Fetching
import Foundation
import Hummingbird
import ImageStore
import PipelineAPI
import PipelineModel

/// Runs the server until SIGTERM or SIGINT.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the API and gallery (the default subcommand).",
        discussion: """
            Listens on 127.0.0.1:8080 by default; another address needs --keys. The first line on standard \
            output is `listening on http://HOST:PORT`. Submitted URLs are fetched as fetch-image fetches them \
            (same limits; non-public addresses refused unless --allow-private or --allow-host).
            """)

    @OptionGroup var home: HomeOptions
    @OptionGroup var logging: LoggingOptions
    @OptionGroup var database: DatabaseOptions

    @Option(help: "Address to listen on (non-loopback addresses need --keys).")
    var host = "127.0.0.1"
    @Option(help: "TCP port (0 picks a free one).")
    var port = 8080
    @Option(help: ArgumentHelp("Also write the port number to this file once listening.", valueName: "path"))
    var portFile: String?
    @Option(
        help: ArgumentHelp(
            "API key file (`pipeline-api keys add` writes it). Without it the server is open and stays on loopback.",
            valueName: "path"))
    var keys: String?
    @Option(help: "Most URLs in one POST /v1/images.")
    var maxURLs = 1000
    @Option(help: ArgumentHelp("Largest image accepted, downloaded or uploaded, in bytes.", valueName: "bytes"))
    var maxBytes = 50 << 20
    @Option(help: "Refuse images with more pixels than this (decompression bombs).")
    var maxPixels = 100_000_000
    @Option(help: ArgumentHelp("Seconds for one whole download.", valueName: "seconds"))
    var timeout: Double = 60
    @Flag(help: "Let submitted URLs reach loopback, private and link-local addresses (local use and tests only).")
    var allowPrivate = false
    @Option(help: ArgumentHelp("Let submitted URLs of this host name reach non-public addresses (repeatable).", valueName: "host"))
    var allowHost: [String] = []

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0-65535") }
        guard (1...100_000).contains(maxURLs) else { throw ValidationError("--max-urls must be 1-100000") }
        guard maxBytes >= 1, maxPixels >= 1, timeout > 0 else { throw ValidationError("--max-bytes, --max-pixels and --timeout must be positive") }
    }

    func run() async throws {
        let logger = logging.bootstrap(label: "pipeline-api")
        let keyring: APIKeyring
        do {
            keyring = try keys.map { try APIKeyring.load(path: $0) } ?? APIKeyring(keys: [])
            if keys != nil && keyring.isEmpty { throw APIServer.ConfigurationError("the key file \(keys ?? "") has no keys") }
            try ListenAddress(host: host, port: port).check(keyring: keyring)
        } catch {
            FileHandle.standardError.write(Data("pipeline-api: \(error)\n".utf8))
            throw ExitCode(64)
        }
        let pipelineHome = home.pipelineHome
        try pipelineHome.createDirectories()
        let bus = try database.openBus(home: pipelineHome, logger: logger)
        try Topology.ensure(on: bus)
        var fetch = FetchConfiguration()
        fetch.maxBytes = maxBytes
        fetch.maxPixels = maxPixels
        fetch.totalTimeout = timeout
        fetch.parallel = 32
        fetch.addressPolicy = AddressPolicy(allowPrivate: allowPrivate, allowedHosts: Set(allowHost.map { $0.lowercased() }))
        let images = try database.openImageStore(home: pipelineHome, logger: logger)
        let fetcher = try Fetcher(configuration: fetch, store: images, bus: bus, logger: logger)
        var limits = APILimits()
        limits.maxURLsPerRequest = maxURLs
        limits.maxUploadBytes = maxBytes
        let database = self.database
        let store = StoreHandle(logger: logger) { try database.openLabelStoreForReading(home: pipelineHome, logger: logger) }
        let services = APIServices(
            home: pipelineHome, bus: bus, fetcher: fetcher, keyring: keyring, limits: limits, store: store, images: images, logger: logger)
        let shownHost = host.contains(":") ? "[\(host)]" : host
        let portFile = portFile
        let app = try APIServer.application(services: services, address: ListenAddress(host: host, port: port)) { bound in
            // Written straight to the file descriptor: scripts read this line while we keep running.
            FileHandle.standardOutput.write(Data("listening on http://\(shownHost):\(bound)\n".utf8))
            if let portFile { try? Data("\(bound)\n".utf8).write(to: URL(fileURLWithPath: portFile), options: .atomic) }
            logger.info("pipeline-api listening", metadata: ["address": "\(shownHost):\(bound)", "keys": "\(keyring.keys.count)"])
        }
        try await app.runService()
        logger.info("pipeline-api stopped")
    }
}
