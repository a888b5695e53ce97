import Fetching
import Foundation
import Hummingbird
import NIOCore

/// `POST /v1/images`: URLs to fetch (JSON) or an image in the body. URLs go through fetch-image's
/// own `Fetcher` (limits, content checks, the address policy: no loopback or link-local unless the
/// operator allowed it), so an image stored here is exactly one fetch-image would have stored.
enum Submission {
    /// One `{url, name}` of a request.
    struct Item: Decodable {
        var url: String
        var name: String?
    }

    /// `{"images": [...]}`.
    struct Batch: Decodable {
        var images: [Item]
    }

    /// An image accepted: stored (new or already there) and on its way to recognition.
    struct Accepted: Encodable {
        var url: String
        var name: String?
        var imageID: String
        var status: String
        var width: Int?
        var height: Int?
        var contentType: String?
        var byteSize: Int?
        enum CodingKeys: String, CodingKey {
            case url, name, status, width, height
            case imageID = "image_id"
            case contentType = "content_type"
            case byteSize = "byte_size"
        }
    }

    /// A URL that could not be fetched, and why.
    struct Failed: Encodable {
        var url: String
        var name: String?
        var error: String
        var transient: Bool
        var httpStatus: Int?
        enum CodingKeys: String, CodingKey {
            case url, name, error, transient
            case httpStatus = "http_status"
        }
    }

    struct Reply: Encodable {
        var accepted: [Accepted]
        var errors: [Failed]
    }

    static func handle(_ request: Request, services: APIServices) async throws -> Response {
        let type = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
        let results: [FetchResult]
        if type == "application/json" {
            let items = try await items(request, services: services)
            results = await fetch(items, services: services)
        } else if type.hasPrefix("image/") || type == "application/octet-stream" {
            let body = try await collect(request, limit: services.limits.maxUploadBytes, what: "an uploaded image")
            let name = request.uri.queryParameters["name"].map(String.init)
            if let name, name.count > maxNameLength { throw APIError.badRequest("'name' may be at most \(maxNameLength) characters") }
            let source = "upload:" + NameSanitizer.name(given: name, url: "upload:image")
            results = [await services.fetcher.accept(upload: Data(buffer: body), name: name, source: source)]
        } else {
            throw APIError(
                .unsupportedMediaType, code: "unsupported_media_type",
                "send application/json ({\"url\": ..., \"name\": ...} or {\"images\": [...]}) or an image body (image/* or application/octet-stream)")
        }
        return reply(results, services: services)
    }

    /// Reads and checks the JSON body's URLs.
    static func items(_ request: Request, services: APIServices) async throws -> [Item] {
        let body = try await collect(request, limit: services.limits.maxJSONBytes, what: "a JSON body")
        let data = Data(buffer: body)
        let decoder = JSONDecoder()
        let items: [Item]
        if let batch = try? decoder.decode(Batch.self, from: data) {
            items = batch.images
        } else if let list = try? decoder.decode([Item].self, from: data) {
            items = list
        } else if let one = try? decoder.decode(Item.self, from: data) {
            items = [one]
        } else {
            throw APIError.badRequest("the body must be {\"url\": ..., \"name\": ...}, a list of those, or {\"images\": [...]}")
        }
        guard !items.isEmpty else { throw APIError.badRequest("no images given") }
        if items.contains(where: { ($0.name?.count ?? 0) > maxNameLength }) {
            throw APIError.badRequest("a name may be at most \(maxNameLength) characters")
        }
        guard items.count <= services.limits.maxURLsPerRequest else {
            throw APIError(
                .contentTooLarge, code: "too_many_urls", "at most \(services.limits.maxURLsPerRequest) URLs per request, got \(items.count)")
        }
        return items
    }

    /// Fetches every item (the fetcher's own parallelism), results in request order.
    static func fetch(_ items: [Item], services: APIServices) async -> [FetchResult] {
        let inputs = items.map { item -> FetchInput in
            FetchInput.parse(line: item.url.replacingOccurrences(of: "\t", with: " ")).map { input in
                if case .request(let url, _) = input { return .request(url: url, name: item.name) }
                return input
            } ?? .invalid(line: item.url, reason: "the URL is empty")
        }
        return await withTaskGroup(of: (Int, FetchResult).self) { group in
            var results = [FetchResult?](repeating: nil, count: inputs.count)
            var inFlight = 0
            for (index, input) in inputs.enumerated() {
                if inFlight >= maxParallel, let (done, result) = await group.next() {
                    results[done] = result
                    inFlight -= 1
                }
                group.addTask { (index, await services.fetcher.fetch(input)) }
                inFlight += 1
            }
            for await (done, result) in group { results[done] = result }
            return results.compactMap { $0 }
        }
    }

    /// Longest name a client may give an image (it is sanitised and shortened further when stored).
    static let maxNameLength = 200

    /// Downloads in flight at once for one request (the fetcher's connection pool is shared by all).
    static let maxParallel = 16

    static func reply(_ results: [FetchResult], services: APIServices) -> Response {
        let reply = summarize(results, services: services)
        // 202 when anything was accepted; 422 when nothing was (the body says why, per URL).
        return JSONBody.response(reply, status: reply.accepted.isEmpty ? .unprocessableContent : .accepted)
    }

    /// The results split into accepted and failed, counted in the metrics.
    static func summarize(_ results: [FetchResult], services: APIServices) -> Reply {
        var reply = Reply(accepted: [], errors: [])
        for result in results {
            if let id = result.imageID, result.succeeded {
                reply.accepted.append(
                    Accepted(
                        url: result.url, name: result.name, imageID: id, status: result.status.rawValue, width: result.width,
                        height: result.height, contentType: result.contentType, byteSize: result.byteSize))
            } else {
                reply.errors.append(
                    Failed(
                        url: result.url, name: result.name, error: result.error ?? "failed", transient: result.transient ?? false,
                        httpStatus: result.httpStatus))
            }
        }
        for status in ["ok", "duplicate"] {
            let count = reply.accepted.count { $0.status == status }
            if count > 0 { services.metrics.submitted(status: status, count: count) }
        }
        if !reply.errors.isEmpty { services.metrics.submitted(status: "failed", count: reply.errors.count) }
        return reply
    }

    /// The body, refused with 413 past `limit`.
    static func collect(_ request: Request, limit: Int, what: String) async throws -> ByteBuffer {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw APIError(.contentTooLarge, code: "too_large", "\(what) may be at most \(limit) bytes, this one is \(length)")
        }
        do {
            return try await request.body.collect(upTo: limit)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw APIError(.contentTooLarge, code: "too_large", "\(what) may be at most \(limit) bytes")
        }
    }
}
