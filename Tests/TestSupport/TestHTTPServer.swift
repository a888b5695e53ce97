@_exported import FlyingFox
@_exported import FlyingSocks
import Foundation

/// A real HTTP server on the loopback interface for tests: FlyingFox on an ephemeral port
/// (port 0), with routes added as closures. Start it, point clients at `url(_:)`, stop it.
///
/// ```swift
/// let server = try await TestHTTPServer.started { server in
///     await server.route("GET /cat.jpg") { _ in HTTPResponse(statusCode: .ok, body: jpeg) }
/// }
/// defer { Task { await server.stop() } }
/// ```
public final class TestHTTPServer: Sendable {
    private let server: HTTPServer
    private let state = LockedState()
    /// The host clients should use: "127.0.0.1" or "[::1]".
    public let host: String

    /// A stopped server bound to 127.0.0.1 (or ::1 when `ipv6`), port chosen by the kernel.
    public init(ipv6: Bool = false, requestTimeout: TimeInterval = 60) {
        if ipv6 {
            let address: sockaddr_in6 = .loopback(port: 0)
            server = HTTPServer(address: address, timeout: requestTimeout, logger: .disabled)
            host = "[::1]"
        } else {
            // `inet(ip4:port:)` only fails for a malformed literal, which this is not.
            let address = (try? sockaddr_in.inet(ip4: "127.0.0.1", port: 0)) ?? .inet(port: 0)
            server = HTTPServer(address: address, timeout: requestTimeout, logger: .disabled)
            host = "127.0.0.1"
        }
    }

    /// Creates, configures (add routes in `configure`) and starts a server.
    public static func started(
        ipv6: Bool = false,
        configure: (TestHTTPServer) async -> Void = { _ in }
    ) async throws -> TestHTTPServer {
        let server = TestHTTPServer(ipv6: ipv6)
        await configure(server)
        try await server.start()
        return server
    }

    /// Routes requests matching `route` ("GET /path", "/path/*", "*") to `handler`; the first
    /// matching route wins, unmatched requests get 404.
    public func route(_ route: String, _ handler: @escaping @Sendable (HTTPRequest) async throws -> HTTPResponse) async {
        await server.appendRoute(HTTPRoute(route), handler: handler)
    }

    /// Starts listening and returns once connections are accepted.
    public func start() async throws {
        let task = Task { [server] in try await server.run() }
        state.set(task: task)
        try await server.waitUntilListening(timeout: 30)
        guard let address = await server.listeningAddress else { throw TestServerError(detail: "no listening address") }
        switch address {
        case .ip4(_, let port), .ip6(_, let port): state.set(port: port)
        case .unix: throw TestServerError(detail: "unexpected unix socket address")
        }
    }

    /// The port the kernel assigned (0 before `start`).
    public var port: UInt16 { state.port }

    /// Base URL, e.g. "http://127.0.0.1:41234".
    public var baseURL: String { "http://\(host):\(port)" }

    /// Absolute URL of `path` ("/cat.jpg").
    public func url(_ path: String) -> String { baseURL + (path.hasPrefix("/") ? path : "/" + path) }

    /// Closes the listening socket and every open connection (hanging handlers are cancelled).
    public func stop() async {
        await server.stop(timeout: 0)
        state.task?.cancel()
    }
}

/// The test server could not start.
public struct TestServerError: Error, CustomStringConvertible {
    public var detail: String
    public var description: String { "test HTTP server: \(detail)" }
}

private final class LockedState: @unchecked Sendable {
    private let lock = NSLock()
    private var _port: UInt16 = 0
    private var _task: Task<Void, any Error>?
    var port: UInt16 { lock.withLock { _port } }
    var task: Task<Void, any Error>? { lock.withLock { _task } }
    func set(port: UInt16) { lock.withLock { _port = port } }
    func set(task: Task<Void, any Error>) { lock.withLock { _task = task } }
}
