import Foundation
import Hummingbird

/// API keys and rate limits in front of every route. Open routes (health, readiness, the OpenAPI
/// document, the stylesheet, the login form) need no key; `POST` needs the submit scope, every
/// other route the read scope. A key comes as `Authorization: Bearer KEY`, or, for the gallery in
/// a browser, in the `pipeline_key` cookie the login form sets. With no key file the server is
/// open (it then listens on loopback only; `APIConfiguration` refuses anything else).
struct AccessMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let services: APIServices

    static let cookieName = "pipeline_key"
    static let openPaths: Set<String> = ["/healthz", "/readyz", "/openapi.yaml", "/gallery.css", "/login"]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let keyring = services.keyring
        if keyring.isEmpty || Self.openPaths.contains(request.uri.path) {
            return try await next(request, context)
        }
        let needed: APIScope = request.method == .post ? .submit : .read
        let isGallery = !request.uri.path.hasPrefix("/v1/") && request.uri.path != "/metrics"
        guard let presented = Self.presentedKey(request) else {
            if isGallery { return Response(status: .seeOther, headers: [.location: "/login"]) }
            throw APIError(
                .unauthorized, code: "unauthorized", "this server needs an API key: send Authorization: Bearer <key>",
                headers: [.wwwAuthenticate: "Bearer realm=\"image-pipeline\""])
        }
        guard let key = keyring.key(for: presented) else {
            if isGallery { return Response(status: .seeOther, headers: [.location: "/login?failed=1"]) }
            throw APIError(
                .unauthorized, code: "invalid_key", "the API key is not known to this server",
                headers: [.wwwAuthenticate: "Bearer realm=\"image-pipeline\", error=\"invalid_token\""])
        }
        guard key.scope >= needed else {
            throw APIError(
                .forbidden, code: "insufficient_scope", "the key '\(key.name)' has the \(key.scope.rawValue) scope; this needs \(needed.rawValue)")
        }
        if let wait = services.rateLimiter.take(key: key.name, rate: key.rate, burst: key.burst) {
            let seconds = max(1, Int(wait.rounded(.up)))
            throw APIError(
                .tooManyRequests, code: "rate_limited",
                "the key '\(key.name)' may make \(key.rate) requests a second (bursts of \(key.burst)); retry in \(seconds) s",
                headers: [.retryAfter: "\(seconds)"])
        }
        return try await next(request, context)
    }

    /// The bearer token, else the gallery cookie.
    static func presentedKey(_ request: Request) -> String? {
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" { return parts[1].trimmingCharacters(in: .whitespaces) }
        }
        return request.cookies[cookieName]?.value
    }
}

/// Counts and times every request under its route pattern (`/v1/images/{id}`, not each id).
struct RequestMetricsMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let metrics: PipelineMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let method = request.method.rawValue
        do {
            let response = try await next(request, context)
            metrics.request(method: method, route: context.endpointPath ?? "unmatched", status: Int(response.status.code), duration: .now - started)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            metrics.request(method: method, route: context.endpointPath ?? "unmatched", status: Int(status), duration: .now - started)
            throw error
        }
    }
}
