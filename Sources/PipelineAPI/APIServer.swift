import Foundation
import Hummingbird
import Logging
import NIOCore

/// Where the server listens, and the rule that keeps an open server off the network.
public struct ListenAddress: Sendable, Equatable {
    public var host: String
    public var port: Int

    public init(host: String = "127.0.0.1", port: Int = 8080) {
        self.host = host
        self.port = port
    }

    /// True for 127.0.0.0/8, ::1 and localhost.
    public var isLoopback: Bool {
        let lowered = host.lowercased()
        return lowered == "localhost" || lowered == "::1" || lowered == "[::1]" || lowered.hasPrefix("127.")
    }

    /// Refuses a non-loopback address for a server without keys: anyone on the network could then
    /// read every image and make the server download whatever they like.
    public func check(keyring: APIKeyring) throws {
        guard (0...65535).contains(port) else { throw APIServer.ConfigurationError("port \(port) is not 0-65535") }
        if !isLoopback && keyring.isEmpty {
            throw APIServer.ConfigurationError(
                "refusing to listen on \(host) without API keys: create a key file with `pipeline-api keys add NAME --keys FILE` and pass --keys FILE, or listen on 127.0.0.1"
            )
        }
    }
}

/// The HTTP API and gallery as a Hummingbird application.
public enum APIServer {
    /// A setting the server cannot start with.
    public struct ConfigurationError: Error, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    /// Every route, behind the request metrics and the key check.
    public static func router(services: APIServices) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: RequestMetricsMiddleware(metrics: services.metrics))
        router.add(middleware: AccessMiddleware(services: services))
        SystemRoutes.add(to: router, services: services)
        ImageRoutes.add(to: router, services: services)
        Gallery.add(to: router, services: services)
        return router
    }

    /// The application; `onRunning` gets the bound port (useful with port 0). Run it with
    /// `runService()`, which stops gracefully on SIGTERM and SIGINT.
    public static func application(
        services: APIServices, address: ListenAddress, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        try address.check(keyring: services.keyring)
        return Application(
            router: router(services: services),
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: "pipeline-api"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? address.port) },
            logger: services.logger)
    }
}
