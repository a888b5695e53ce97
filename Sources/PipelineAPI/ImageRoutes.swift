import Bus
import Foundation
import Hummingbird
import ImageStore
import LabelStore
import NIOCore
import PipelineModel

/// The `/v1` routes: images (submit, list, one, content, thumbnail), labels, queues.
enum ImageRoutes {
    static func add(to router: Router<BasicRequestContext>, services: APIServices) {
        let v1 = router.group("v1")
        v1.post("images") { request, _ in try await Submission.handle(request, services: services) }
        v1.get("images") { request, _ in try await list(request, services: services) }
        v1.get("images/{id}") { _, context in try await detail(try context.parameters.require("id"), services: services) }
        v1.get("images/{id}/content") { request, context in
            try await content(try context.parameters.require("id"), request: request, services: services)
        }
        v1.get("images/{id}/thumbnail") { request, context in
            try await thumbnail(try context.parameters.require("id"), request: request, services: services)
        }
        v1.get("labels") { request, _ in try await labels(request, services: services) }
        v1.get("queues") { _, _ in try await queues(services: services) }
    }

    /// One page of images and the cursor of the next (null on the last page).
    struct ImagePage: Encodable {
        var images: [ImageSummary]
        var nextCursor: String?
        enum CodingKeys: String, CodingKey {
            case images
            case nextCursor = "next_cursor"
        }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(images, forKey: .images)
            try container.encode(nextCursor, forKey: .nextCursor)  // an explicit null on the last page
        }
    }

    /// The listing for a request's query parameters (shared with the gallery's grid).
    static func page(_ request: Request, services: APIServices, defaultLimit: Int = 50) async throws -> ImagePage {
        let parameters = request.uri.queryParameters
        var query = try ImageQueryParameters.query(
            { parameters[values: Substring($0)].map(String.init) }, names: parameters.map { String($0.key) }, defaultLimit: defaultLimit)
        // One more than the page tells whether there is a next page.
        let limit = query.limit
        query.limit += 1
        let store = services.store
        let finalQuery = query
        let found = try await services.blocking { () throws -> [ImageSummary] in try store.read { try $0.images(matching: finalQuery) } }
        let images = Array(found.prefix(limit))
        return ImagePage(images: images, nextCursor: found.count > limit ? images.last?.cursor?.token : nil)
    }

    static func list(_ request: Request, services: APIServices) async throws -> Response {
        JSONBody.response(try await page(request, services: services))
    }

    /// Everything about one image (as `list-images show --format json`).
    static func image(_ id: String, services: APIServices) async throws -> ImageDetail {
        let store = services.store
        let found = try await services.blocking { () throws -> ImageDetail? in try store.read { try $0.image(idOrPrefix: id) } }
        guard let found else { throw APIError.notFound("no image with id or prefix '\(id)'") }
        return found
    }

    static func detail(_ id: String, services: APIServices) async throws -> Response {
        JSONBody.response(try await image(id, services: services))
    }

    /// A local file of a stored image: 410 when the store no longer has it, 503 when a shared store is down.
    static func localFile(_ storedPath: String, _ images: any ImageStoring) throws(APIError) -> URL {
        do { return try images.localFile(forStoredPath: storedPath) } catch ImageStoreError.database(_, let detail, _) {
            throw .unavailable("the image store failed: \(detail)")
        } catch {
            throw APIError(.gone, code: "content_missing", "the image's file is missing from the store (\(storedPath))")
        }
    }

    /// The stored bytes. Images are content-addressed, so the id is a strong ETag and the bytes never change.
    static func content(_ id: String, request: Request, services: APIServices) async throws -> Response {
        let found = try await image(id, services: services)
        let etag = "\"\(found.id)\""
        var headers: HTTPFields = [.eTag: etag, .cacheControl: "public, max-age=31536000, immutable"]
        if matches(request, etag: etag) { return Response(status: .notModified, headers: headers) }
        let path = found.storedPath
        let images = services.images
        let bytes = try await services.blocking { () throws -> Data in
            do { return try Data(contentsOf: try Self.localFile(path, images)) } catch let error as APIError { throw error } catch {
                throw APIError(.gone, code: "content_missing", "the image's file is missing from the store (\(path))")
            }
        }
        headers[.contentType] = found.contentType
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// A JPEG thumbnail, `size` the longer side (160, 320 or 640; others are rounded up to those).
    static func thumbnail(_ id: String, request: Request, services: APIServices) async throws -> Response {
        var size = ThumbnailCache.defaultSize
        if let text = request.uri.queryParameters["size"] {
            guard let value = Int(text), (1...4096).contains(value) else {
                throw APIError.badRequest("'size' must be a whole number of pixels (160, 320 or 640), got '\(text)'")
            }
            size = ThumbnailCache.snapped(value)
        }
        let found = try await image(id, services: services)
        let etag = "\"\(found.id)-\(size)\""
        var headers: HTTPFields = [.eTag: etag, .cacheControl: "public, max-age=31536000, immutable"]
        if matches(request, etag: etag) { return Response(status: .notModified, headers: headers) }
        let thumbnails = services.thumbnails
        let path = found.storedPath
        let images = services.images
        let imageID = found.id
        let snappedSize = size
        let jpeg = try await services.blocking { () throws -> Data in
            // A missing file fails below as an image that cannot be read (422, as before); a shared store that is down is 503.
            let source: URL
            do { source = try images.localFile(forStoredPath: path) } catch ImageStoreError.database(_, let detail, _) {
                throw APIError.unavailable("the image store failed: \(detail)")
            } catch { source = URL(fileURLWithPath: path) }
            do { return try thumbnails.thumbnail(id: imageID, source: source, size: snappedSize) } catch {
                throw APIError(.unprocessableContent, code: "thumbnail_failed", "no thumbnail can be made of this image: \(error)")
            }
        }
        headers[.contentType] = "image/jpeg"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: jpeg)))
    }

    /// True when the request's If-None-Match names `etag` (or is `*`).
    static func matches(_ request: Request, etag: String) -> Bool {
        guard let header = request.headers[.ifNoneMatch] else { return false }
        return header.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.contains { $0 == etag || $0 == "*" || $0 == "W/" + etag }
    }

    struct LabelList: Encodable {
        var kind: String
        var labels: [LabelCount]
    }

    static func labels(_ request: Request, services: APIServices) async throws -> Response {
        let parameters = request.uri.queryParameters
        if let unknown = parameters.first(where: { !["kind", "contains", "limit"].contains($0.key) }) {
            throw APIError.badRequest("unknown query parameter '\(unknown.key)'; known: contains, kind, limit")
        }
        var query = LabelCountQuery()
        if let kind = parameters["kind"] {
            guard let value = LabelCountQuery.Kind(rawValue: String(kind)) else {
                throw APIError.badRequest("'kind' must be labels, categories or colors, got '\(kind)'")
            }
            query.kind = value
        }
        if let contains = parameters["contains"], !contains.isEmpty { query.contains = String(contains) }
        if let limit = parameters["limit"] {
            guard let value = Int(limit), (1...10_000).contains(value) else {
                throw APIError.badRequest("'limit' must be from 1 to 10000, got '\(limit)'")
            }
            query.limit = value
        }
        let store = services.store
        let finalQuery = query
        let counts = try await services.blocking { () throws -> [LabelCount] in try store.read { try $0.labelCounts(finalQuery) } }
        return JSONBody.response(LabelList(kind: query.kind.rawValue, labels: counts))
    }

    /// One queue of the bus as `GET /v1/queues` shows it.
    struct QueueView: Encodable {
        var name: String
        var visible: Int
        var inFlight: Int
        var delayed: Int
        var oldestVisibleAgeSeconds: Double?
        var deadLetterQueue: String?
        var deadLetters: Int?
        var maxReceiveCount: Int
        var visibilityTimeoutSeconds: Double

        enum CodingKeys: String, CodingKey {
            case name, visible, delayed
            case inFlight = "in_flight"
            case oldestVisibleAgeSeconds = "oldest_visible_age_seconds"
            case deadLetterQueue = "dead_letter_queue"
            case deadLetters = "dead_letters"
            case maxReceiveCount = "max_receive_count"
            case visibilityTimeoutSeconds = "visibility_timeout_seconds"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .name)
            try container.encode(visible, forKey: .visible)
            try container.encode(inFlight, forKey: .inFlight)
            try container.encode(delayed, forKey: .delayed)
            try container.encode(oldestVisibleAgeSeconds, forKey: .oldestVisibleAgeSeconds)
            try container.encode(deadLetterQueue, forKey: .deadLetterQueue)
            try container.encode(deadLetters, forKey: .deadLetters)
            try container.encode(maxReceiveCount, forKey: .maxReceiveCount)
            try container.encode(visibilityTimeoutSeconds, forKey: .visibilityTimeoutSeconds)
        }
    }

    struct QueueList: Encodable { var queues: [QueueView] }

    /// Every queue's depth, in flight and dead letters.
    static func queueViews(services: APIServices) async throws -> [QueueView] {
        let bus = services.bus
        return try await services.blocking { () throws -> [QueueView] in
            do {
                return try bus.queues().sorted().map { name in
                    let status = try bus.status(of: name)
                    return QueueView(
                        name: name, visible: status.stats.visible, inFlight: status.stats.inFlight, delayed: status.stats.delayed,
                        oldestVisibleAgeSeconds: status.oldestVisibleAge, deadLetterQueue: status.configuration.deadLetterQueue,
                        deadLetters: status.deadLetters, maxReceiveCount: status.configuration.maxReceiveCount,
                        visibilityTimeoutSeconds: status.configuration.visibilityTimeout)
                }
            } catch {
                throw APIError.unavailable("the bus cannot be read: \(error)")
            }
        }
    }

    static func queues(services: APIServices) async throws -> Response {
        JSONBody.response(QueueList(queues: try await queueViews(services: services)))
    }
}
