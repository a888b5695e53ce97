import FlyingFox
import FlyingSocks
import Foundation
import Logging
import NotificationXML

/// A small e-mail gateway for local use and tests: accepts notification XML on POST /messages,
/// validates it against the XSD, de-duplicates by Idempotency-Key and stores each message as a
/// file in the outbox. It can be told to fail on purpose (`FaultSettings`).
///
/// Routes: POST /messages, POST /control (JSON `FaultSettings`, fields optional), GET /stats,
/// GET /health.
public final class MailSink: Sendable {
    private let configuration: MailSinkConfiguration
    private let outbox: Outbox
    private let validator: SchemaValidator
    private let state: SinkState
    private let logger: Logger
    private let server: HTTPServer

    /// Prepares the outbox and the server (nothing listens until `start`).
    public init(configuration: MailSinkConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        outbox = try Outbox(directory: configuration.outbox)
        validator = try SchemaValidator.notification.get()
        state = SinkState(faults: configuration.faults)
        let address: sockaddr_in
        do {
            address = try .inet(ip4: "127.0.0.1", port: configuration.port)
        } catch {
            throw MailSinkError.listen(port: configuration.port, detail: "\(error)")
        }
        // The handler timeout must outlast any deliberate delay.
        let timeout = 60 + Double(configuration.faults.delayMs) / 1000
        server = HTTPServer(
            config: .init(
                address: address, timeout: timeout,
                pool: NoDelaySocketPool(inner: HTTPServer.defaultPool()), logger: .disabled))
    }

    /// Starts listening in the background and returns the port (useful with port 0).
    @discardableResult
    public func start() async throws -> UInt16 {
        await server.appendRoute("POST /messages") { [self] request in
            await state.count {
                $0.inFlight += 1
                $0.peakInFlight = max($0.peakInFlight, $0.inFlight)
            }
            let response = await self.receive(request)
            await state.count { $0.inFlight -= 1 }
            return response
        }
        await server.appendRoute("POST /control") { [self] request in await self.control(request) }
        await server.appendRoute("GET /stats") { [self] _ in Self.json(.ok, await state.stats) }
        await server.appendRoute("GET /health") { _ in HTTPResponse(statusCode: .ok, body: Data("ok\n".utf8)) }
        let server = self.server
        let runner = Task { try await server.run() }
        state.setRunner(runner)
        do {
            try await server.waitUntilListening(timeout: 30)
        } catch {
            runner.cancel()
            let detail = await (try? runner.value).map { _ in "\(error)" } ?? "\(error)"
            throw MailSinkError.listen(port: configuration.port, detail: detail)
        }
        guard case .ip4(_, let port)? = await server.listeningAddress else {
            throw MailSinkError.listen(port: configuration.port, detail: "no listening address")
        }
        logger.info("mail sink listening", metadata: ["port": "\(port)", "outbox": "\(outbox.directory.path)"])
        return port
    }

    /// Lets requests being answered finish (up to `drainTimeout` seconds), then stops.
    public func stop(drainTimeout: TimeInterval = 10) async {
        // FlyingFox's own stop always waits its whole timeout (its socket pool task only ends
        // when cancelled), so drain by our in-flight count and give it a short timeout.
        let deadline = ContinuousClock.now + .seconds(drainTimeout)
        while await state.stats.inFlight > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        await server.stop(timeout: 0.2)
        state.takeRunner()?.cancel()
    }

    /// The counts so far.
    public var stats: MailSinkStats { get async { await state.stats } }

    /// The outbox this sink stores into.
    public var storage: Outbox { outbox }

    /// Changes the deliberate failures.
    public func setFaults(_ faults: FaultSettings) async { await state.setFaults(faults) }

    // MARK: Routes

    private func receive(_ request: HTTPRequest) async -> HTTPResponse {
        let key = request.headers[HTTPHeader("Idempotency-Key")]
        var metadata: Logger.Metadata = ["idempotency.key": "\(key ?? "-")"]
        let decision = await state.nextDecision()
        if decision.delayMs > 0 { try? await Task.sleep(for: .milliseconds(decision.delayMs)) }
        if let failure = decision.failure {
            metadata["http.status"] = "\(failure.status)"
            logger.info("failing on purpose", metadata: metadata)
            var headers: HTTPHeaders = [.contentType: "application/json"]
            if let seconds = failure.retryAfter { headers[HTTPHeader("Retry-After")] = String(seconds) }
            return HTTPResponse(
                statusCode: HTTPStatusCode(failure.status, phrase: "Failing On Purpose"), headers: headers,
                body: Self.jsonData(["status": "failing on purpose"]))
        }

        let contentType =
            (request.headers[.contentType] ?? "").split(separator: ";").first
            .map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        guard contentType == "application/xml" || contentType == "text/xml" else {
            return await reject(.unsupportedMediaType, "Content-Type must be application/xml, not \"\(contentType)\"", metadata)
        }
        if let length = request.headers[.contentLength].flatMap(Int.init), length > configuration.maxBodyBytes {
            return await reject(
                HTTPStatusCode(413, phrase: "Content Too Large"), "body of \(length) bytes exceeds \(configuration.maxBodyBytes)", metadata)
        }
        let body: Data
        do {
            body = try await request.bodyData
        } catch {
            return await reject(.badRequest, "could not read the body: \(error)", metadata)
        }
        guard body.count <= configuration.maxBodyBytes else {
            return await reject(
                HTTPStatusCode(413, phrase: "Content Too Large"), "body of \(body.count) bytes exceeds \(configuration.maxBodyBytes)", metadata)
        }
        if let key, key.isEmpty || Outbox.fileName(forKey: key) == nil {
            return await reject(.badRequest, "Idempotency-Key must be 1 to 100 bytes (200 if only letters, digits, . _ -)", metadata)
        }
        do {
            try validator.validate(body)
        } catch {
            return await reject(.badRequest, "\(error)", metadata)
        }
        do {
            switch try await storeOffTheCooperativePool(body, key: key) {
            case .stored(let file):
                await state.count { $0.accepted += 1 }
                metadata["file"] = "\(file)"
                logger.info("message stored", metadata: metadata)
                return Self.json(.accepted, ["status": "accepted", "file": file])
            case .duplicate(let file):
                await state.count { $0.duplicates += 1 }
                metadata["file"] = "\(file)"
                logger.info("duplicate message ignored", metadata: metadata)
                return Self.json(.ok, ["status": "duplicate", "file": file])
            }
        } catch {
            metadata["error"] = "\(error)"
            logger.error("cannot store message", metadata: metadata)
            return Self.json(.internalServerError, ["status": "error", "error": "\(error)"])
        }
    }

    /// Runs the fsyncing store on a Dispatch thread: blocking there lets many stores wait on
    /// the disk at once (the journal commits them together) without starving Swift's few
    /// cooperative threads.
    private func storeOffTheCooperativePool(_ body: Data, key: String?) async throws -> Outbox.StoreResult {
        let outbox = self.outbox
        return try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try outbox.store(body, key: key) })
            }
        }
    }

    private func reject(_ status: HTTPStatusCode, _ reason: String, _ metadata: Logger.Metadata) async -> HTTPResponse {
        await state.count { $0.rejected += 1 }
        var metadata = metadata
        metadata["http.status"] = "\(status.code)"
        metadata["reason"] = "\(reason)"
        logger.info("message rejected", metadata: metadata)
        return Self.json(status, ["status": "rejected", "error": reason])
    }

    private func control(_ request: HTTPRequest) async -> HTTPResponse {
        do {
            let body = try await request.bodyData
            let patch = try JSONDecoder().decode(FaultPatch.self, from: body.isEmpty ? Data("{}".utf8) : body)
            let faults = await state.apply(patch)
            logger.info("faults changed", metadata: ["fail": "\(faults.fail)", "status": "\(faults.status)", "delay.ms": "\(faults.delayMs)"])
            return Self.json(.ok, faults)
        } catch {
            return Self.json(
                .badRequest,
                [
                    "status": "rejected",
                    "error": "control body must be JSON like {\"fail\": 2, \"status\": 503, \"delayMs\": 0, \"retryAfter\": 1}: \(error)",
                ])
        }
    }

    private static func json<T: Encodable>(_ status: HTTPStatusCode, _ value: T) -> HTTPResponse {
        HTTPResponse(statusCode: status, headers: [.contentType: "application/json"], body: jsonData(value))
    }

    private static func jsonData<T: Encodable>(_ value: T) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return ((try? encoder.encode(value)) ?? Data("{}".utf8)) + Data("\n".utf8)
    }
}

/// POST /control: only the fields given change.
struct FaultPatch: Decodable {
    var fail: Int?
    var status: Int?
    var delayMs: Int?
    var retryAfter: Int?
}

/// What to do with one POST /messages.
struct SinkDecision: Sendable {
    var delayMs: Int
    var failure: (status: Int, retryAfter: Int?)?
}

/// The mutable part of the sink: faults and counts.
actor SinkState {
    private var faults: FaultSettings
    private(set) var stats = MailSinkStats()
    private nonisolated let runner = RunnerBox()

    init(faults: FaultSettings) { self.faults = faults }

    func nextDecision() -> SinkDecision {
        guard faults.fail > 0 else { return SinkDecision(delayMs: faults.delayMs, failure: nil) }
        faults.fail -= 1
        stats.failedOnPurpose += 1
        return SinkDecision(delayMs: faults.delayMs, failure: (faults.status, faults.retryAfter))
    }

    func setFaults(_ faults: FaultSettings) { self.faults = faults }

    func apply(_ patch: FaultPatch) -> FaultSettings {
        if let fail = patch.fail { faults.fail = max(0, fail) }
        if let status = patch.status { faults.status = status }
        if let delay = patch.delayMs { faults.delayMs = max(0, delay) }
        if let retryAfter = patch.retryAfter { faults.retryAfter = retryAfter < 0 ? nil : retryAfter }
        return faults
    }

    func count(_ change: (inout MailSinkStats) -> Void) { change(&stats) }

    nonisolated func setRunner(_ task: Task<Void, any Error>) { runner.set(task) }
    nonisolated func takeRunner() -> Task<Void, any Error>? { runner.take() }
}

/// Holds the server task so `stop` can cancel it.
final class RunnerBox: @unchecked Sendable {
    private let lock = NSLock()
    private var task: Task<Void, any Error>?
    func set(_ task: Task<Void, any Error>) { lock.withLock { self.task = task } }
    func take() -> Task<Void, any Error>? {
        lock.withLock {
            defer { task = nil }
            return task
        }
    }
}
