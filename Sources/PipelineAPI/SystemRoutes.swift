import Foundation
import Hummingbird
import LabelStore
import NIOCore

/// Health, readiness, metrics and the OpenAPI document.
enum SystemRoutes {
    /// docs/openapi.yaml, embedded (the target's `openapi.yaml` is a link to it).
    static let openAPI = String(decoding: PackageResources.openapi_yaml, as: UTF8.self)

    static func add(to router: Router<BasicRequestContext>, services: APIServices) {
        router.get("healthz") { _, _ in text("ok\n") }
        router.get("readyz") { _, _ in try await ready(services: services) }
        router.get("metrics") { _, _ in
            let store = try? services.store.store()
            let bus = services.bus
            let body = try await services.blocking { services.metrics.scrape(store: store, bus: bus) }
            return text(body, type: "text/plain; version=0.0.4; charset=utf-8")
        }
        router.get("openapi.yaml") { _, _ in text(openAPI, type: "application/yaml") }
    }

    static func text(_ body: String, type: String = "text/plain; charset=utf-8") -> Response {
        Response(status: .ok, headers: [.contentType: type], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    struct Readiness: Encodable {
        var ready: Bool
        var checks: [String: String]
    }

    /// Ready when the label database opens and answers, and the bus can be listed.
    static func ready(services: APIServices) async throws -> Response {
        let bus = services.bus
        let store = services.store
        let checks = try await services.blocking { () -> [String: String] in
            var checks: [String: String] = [:]
            do {
                _ = try store.read { try $0.counts() }
                checks["label_store"] = "ok"
            } catch {
                checks["label_store"] = "\(error)"
            }
            do {
                _ = try bus.topics()
                checks["bus"] = "ok"
            } catch {
                checks["bus"] = "\(error)"
            }
            return checks
        }
        let ready = checks.values.allSatisfy { $0 == "ok" }
        return JSONBody.response(Readiness(ready: ready, checks: checks), status: ready ? .ok : .serviceUnavailable)
    }
}
