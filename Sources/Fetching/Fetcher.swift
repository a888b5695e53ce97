import Bus
import CurlHTTP
import Foundation
import ImageStore
import Imaging
import Logging
import PipelineModel
import WorkerRuntime

/// Downloads images (many at once), verifies them, stores them by content hash and publishes
/// `image.stored` for each new one. The `fetch-image` executable is a thin wrapper around it.
public final class Fetcher: Sendable {
    private let configuration: FetchConfiguration
    private let store: any ImageStoring
    private let bus: any MessageBus
    private let logger: Logger
    private let client: HTTPClient

    /// Creates a fetcher and starts its libcurl engine thread.
    public init(configuration: FetchConfiguration, store: any ImageStoring, bus: any MessageBus, logger: Logger) throws(FetchError) {
        self.configuration = configuration
        self.store = store
        self.bus = bus
        self.logger = logger
        do {
            self.client = try HTTPClient(
                name: "curl-fetch", maxHostConnections: configuration.maxHostConnections,
                maxTotalConnections: max(configuration.parallel, configuration.maxHostConnections))
        } catch {
            throw .engine(detail: error.description)
        }
    }

    deinit {
        client.shutdown(finishRunning: true)
    }

    /// The libcurl version in use.
    public static var curlVersion: String { HTTPClient.libcurlVersion }

    /// Fetches every input (up to `parallel` at once, starting while `inputs` is still being
    /// produced) and calls `report` once per input as soon as its result is known.
    public func run(inputs: AsyncStream<FetchInput>, report: @escaping @Sendable (FetchResult) -> Void) async -> FetchSummary {
        let started = ContinuousClock.now
        let parallel = max(1, configuration.parallel)
        let summary = await withTaskGroup(of: FetchResult.self, returning: FetchSummary.self) { group in
            var summary = FetchSummary()
            var inFlight = 0
            for await input in inputs {
                // Latency counts from here, waiting for a free slot included.
                let requestedAt = Date()
                if inFlight >= parallel, let done = await group.next() {
                    inFlight -= 1
                    summary.add(done)
                }
                group.addTask {
                    let result = await self.fetch(input, requestedAt: requestedAt)
                    report(result)
                    return result
                }
                inFlight += 1
            }
            for await done in group { summary.add(done) }
            return summary
        }
        var final = summary
        let elapsed = ContinuousClock.now - started
        final.seconds = elapsed.inSeconds
        return final
    }

    /// Fetches a list of inputs (URLs known up front).
    public func run(_ inputs: [FetchInput], report: @escaping @Sendable (FetchResult) -> Void) async -> FetchSummary {
        let stream = AsyncStream<FetchInput> { continuation in
            for input in inputs { continuation.yield(input) }
            continuation.finish()
        }
        return await run(inputs: stream, report: report)
    }

    /// Fetches one input: download with retries, verify, store, publish. `requestedAt` (when
    /// the input was read) goes into the event's timing.
    public func fetch(_ input: FetchInput, requestedAt: Date = Date()) async -> FetchResult {
        let url: String
        let givenName: String?
        switch input {
        case .request(let requested, let name):
            (url, givenName) = (requested, name)
        case .invalid(let line, let reason):
            logger.warning("skipping invalid input line", metadata: ["line": "\(line)", "reason": "\(reason)"])
            return .failure(url: line, name: nil, error: .invalidInput(line: line, reason: reason), attempts: 0)
        }
        let name = NameSanitizer.name(given: givenName, url: url)
        var metadata: Logger.Metadata = ["url": "\(url)", "name": "\(name)"]
        if let problem = checkURL(url) {
            logger.warning("refused URL", metadata: metadata.merging(["error": "\(problem)"]) { $1 })
            return .failure(url: url, name: name, error: problem, attempts: 0)
        }

        var attempt = 0
        let downloadStarted = ContinuousClock.now
        while true {
            attempt += 1
            let outcome = await download(url)
            switch outcome {
            case .success(let reply):
                let timing = FetchTiming(requestedAt: requestedAt, downloadMs: (ContinuousClock.now - downloadStarted).inMilliseconds, storeMs: 0)
                do {
                    return try await accept(reply, url: url, name: name, attempts: attempt, timing: timing, metadata: &metadata)
                } catch {
                    logger.warning("fetch failed", metadata: metadata.merging(["error": "\(error)", "attempts": "\(attempt)"]) { $1 })
                    return .failure(url: url, name: name, error: error, attempts: attempt, httpStatus: reply.status == 0 ? nil : reply.status)
                }
            case .failure(let error):
                let status: Int? = if case .httpStatus(_, let code, _) = error { code } else { nil }
                if error.isTransient && attempt <= configuration.retries {
                    let delay = backoff(attempt: attempt)
                    logger.info(
                        "transient failure; retrying",
                        metadata: metadata.merging([
                            "error": "\(error)", "attempt": "\(attempt)", "retry.in.s": "\(String(format: "%.2f", delay))",
                        ]) { $1 })
                    try? await Task.sleep(for: .seconds(delay))
                    continue
                }
                logger.warning("fetch failed", metadata: metadata.merging(["error": "\(error)", "attempts": "\(attempt)"]) { $1 })
                return .failure(url: url, name: name, error: error, attempts: attempt, httpStatus: status)
            }
        }
    }

    /// The pipeline's backoff (exponential from `retryBaseDelay`, equal jitter), so retries
    /// from many transfers spread out.
    private func backoff(attempt: Int) -> Double {
        Backoff(initial: configuration.retryBaseDelay, maximum: 60).delay(afterAttempt: attempt)
    }

    /// Refuses URLs that cannot be valid requests before any network traffic.
    private func checkURL(_ url: String) -> FetchError? {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
            return .invalidInput(line: url, reason: "not a URL")
        }
        switch scheme {
        case "http", "https":
            guard let host = components.host, !host.isEmpty else { return .invalidInput(line: url, reason: "the URL has no host") }
            return nil
        case "file" where configuration.allowFile:
            return nil
        default:
            return .schemeNotAllowed(url: url, scheme: scheme)
        }
    }

    /// Downloads once; maps libcurl and HTTP failures to `FetchError`.
    private func download(_ url: String) async -> Result<HTTPReply, FetchError> {
        let request = HTTPRequest.get(url, limits: configuration.httpLimits, addressGuard: configuration.addressPolicy)
        switch await client.perform(request) {
        case .success(let reply):
            let isFile = url.lowercased().hasPrefix("file:")
            if !isFile && !reply.isSuccess {
                return .failure(.httpStatus(url: url, status: reply.status, reason: reply.reason))
            }
            return .success(reply)
        case .failure(.refusedAddress(let address, let category, let host)):
            return .failure(.blockedAddress(url: url, address: address, category: category, host: host))
        case .failure(.tooLarge(let limit)):
            return .failure(.tooLarge(url: url, limit: limit))
        case .failure(.transport(.tooManyRedirects, _)):
            return .failure(.tooManyRedirects(url: url, limit: configuration.maxRedirects))
        case .failure(.transport(.unsupportedProtocol, let message)):
            return .failure(.schemeNotAllowed(url: url, scheme: Self.scheme(in: message) ?? "unsupported"))
        case .failure(.transport(let code, let message)):
            return .failure(.transport(url: url, code: Int(code.rawValue), message: message))
        case .failure(.setup(let detail)):
            return .failure(.engine(detail: detail))
        case .failure(.stopped):
            return .failure(.engine(detail: "the download engine was stopped"))
        }
    }

    private static func scheme(in message: String) -> String? {
        // libcurl: "Protocol \"ftp\" not supported or disabled in libcurl"
        let parts = message.split(separator: "\"")
        return parts.count >= 2 ? String(parts[1]) : nil
    }

    /// An image sent in a request body (the HTTP API's upload) rather than downloaded: checked,
    /// stored and published exactly as a download's body is. `source` is recorded as its URL.
    public func accept(upload body: Data, name givenName: String?, source: String) async -> FetchResult {
        let name = NameSanitizer.name(given: givenName, url: source)
        var metadata: Logger.Metadata = ["source": "\(source)", "name": "\(name)"]
        let timing = FetchTiming(requestedAt: Date(), downloadMs: 0, storeMs: 0)
        do {
            return try await accept(body, status: nil, url: source, name: name, attempts: 1, timing: timing, metadata: &metadata)
        } catch {
            logger.warning("upload refused", metadata: metadata.merging(["error": "\(error)"]) { $1 })
            return .failure(url: source, name: name, error: error, attempts: 1)
        }
    }

    /// Verifies a download's body is an acceptable image, stores it and publishes `image.stored`.
    private func accept(
        _ reply: HTTPReply, url: String, name: String, attempts: Int, timing: FetchTiming,
        metadata: inout Logger.Metadata
    ) async throws(FetchError) -> FetchResult {
        if reply.redirects > 0 { metadata["final.url"] = "\(reply.effectiveURL)" }
        // The server's claim is logged for diagnosis only; the bytes decide the type.
        if let claimed = reply.contentType { metadata["http.content.type"] = "\(claimed)" }
        return try await accept(
            reply.body, status: reply.status == 0 ? nil : reply.status, url: url, name: name, attempts: attempts, timing: timing,
            metadata: &metadata)
    }

    /// Verifies `body` is an acceptable image, stores it and publishes `image.stored`.
    private func accept(
        _ body: Data, status: Int?, url: String, name: String, attempts: Int, timing: FetchTiming,
        metadata: inout Logger.Metadata
    ) async throws(FetchError) -> FetchResult {
        let started = ContinuousClock.now
        let limits = ImageLimits(maxPixels: configuration.maxPixels, maxFileBytes: configuration.maxBytes)
        let header: ImageHeader
        do {
            header = try ImageInspector.inspect(body, limits: limits)
            try ImageInspector.requireComplete(body, format: header.format)
        } catch {
            throw .notAnImage(url: url, reason: error)
        }
        let stored: StoredImage
        do {
            stored = try store.store(body, fileExtension: header.format.fileExtension)
        } catch {
            throw .store(url: url, reason: error)
        }
        metadata["image.id"] = "\(stored.id)"
        var result = FetchResult(
            status: stored.isNew ? .ok : .duplicate, url: url, name: name, imageID: stored.id,
            width: header.width, height: header.height, contentType: header.mimeType, byteSize: stored.byteSize,
            storedPath: stored.storedPath, published: false, attempts: attempts,
            httpStatus: status, error: nil, transient: nil)
        guard stored.isNew || configuration.force else {
            logger.info("image already stored; not published again", metadata: metadata)
            return result
        }
        var timing = timing
        timing.storeMs = (ContinuousClock.now - started).inMilliseconds
        let event = ImageStored(
            imageID: stored.id, name: name, sourceURL: url, storedPath: stored.storedPath,
            byteSize: stored.byteSize, contentType: header.mimeType,
            width: header.width, height: header.height, fetchedAt: Date(), timing: timing)
        do {
            let body = try MessageCoding.encoder().encode(event)
            let message = try bus.publish(
                topic: Topology.imageStoredTopic, body: body,
                attributes: [
                    MessageAttribute.type: Topology.imageStoredTopic,
                    MessageAttribute.schemaVersion: "\(ImageStored.currentSchemaVersion)",
                    MessageAttribute.imageID: stored.id,
                    MessageAttribute.contentType: header.mimeType,
                ])
            metadata["message.id"] = "\(message.id)"
        } catch {
            // Without the event nobody would ever label this image, and a rerun would see a
            // duplicate and stay silent: remove the new file so a rerun starts over.
            if stored.isNew { try? FileManager.default.removeItem(at: stored.url) }
            throw .publish(url: url, detail: "\(error)")
        }
        result.published = true
        logger.info(
            stored.isNew ? "image stored" : "image republished (--force)",
            metadata: metadata.merging([
                "bytes": "\(stored.byteSize)", "size": "\(header.width)x\(header.height)", "content.type": "\(header.mimeType)",
            ]) { $1 })
        return result
    }
}
