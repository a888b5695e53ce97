import Bus
import Fetching
import Foundation
import Hummingbird
import LabelStore
import Mustache
import NIOCore
import PipelineModel

/// The web gallery: server-rendered pages (Mustache templates embedded in the binary, no
/// JavaScript) over the same queries as the API. `/` the grid and search, `/images/{id}` one
/// image with its labels and boxes, `/submit` a form for URLs, `/dead-letters` what failed.
enum Gallery {
    static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        let templates: [(String, [UInt8])] = [
            ("head", PackageResources.head_mustache), ("foot", PackageResources.foot_mustache),
            ("grid", PackageResources.grid_mustache), ("image", PackageResources.image_mustache),
            ("submit", PackageResources.submit_mustache), ("dead-letters", PackageResources.dead_letters_mustache),
            ("login", PackageResources.login_mustache),
        ]
        for (name, bytes) in templates {
            // The templates are part of the binary and covered by the tests: a parse error is a build defect.
            try! library.register(String(decoding: bytes, as: UTF8.self), named: name)
        }
        return library
    }()
    static let stylesheet = ByteBuffer(bytes: PackageResources.gallery_css)

    static func add(to router: Router<BasicRequestContext>, services: APIServices) {
        router.get("/") { request, _ in try await grid(request, services: services) }
        router.get("images/{id}") { _, context in try await image(try context.parameters.require("id"), services: services) }
        router.get("submit") { _, _ in try await page("submit", SubmitPage(title: "Add images"), services: services) }
        router.post("submit") { request, _ in try await submit(request, services: services) }
        router.get("dead-letters") { _, _ in try await deadLetters(services: services) }
        router.get("login") { request, _ in
            try await page("login", LoginPage(title: "API key", failed: request.uri.queryParameters["failed"] != nil), services: services)
        }
        router.post("login") { request, _ in try await login(request, services: services) }
        router.get("gallery.css") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "public, max-age=3600"],
                body: .init(byteBuffer: stylesheet))
        }
    }

    // MARK: Pages

    /// What every page shows in its header.
    protocol PageView {
        var title: String { get }
        var deadLetterCount: Int? { get set }
    }

    struct Card {
        var id: String
        var name: String
        var href: String
        var thumbnail: String
        var thumbWidth: Int
        var thumbHeight: Int
        var labels: [Percent]
        var badges: [String]
    }

    struct Percent {
        var name: String
        var percent: String
    }

    struct Search {
        var label = ""
        var category = ""
        var text = ""
        var color = ""
    }

    struct GridPage: PageView {
        var title: String
        var deadLetterCount: Int?
        var search: Search
        var searching: Bool
        var categories: [LabelCount]
        var colors: [LabelCount]
        var cards: [Card]
        var countText: String
        var nextPage: String?
        var error: String?
    }

    static func grid(_ request: Request, services: APIServices) async throws -> Response {
        let parameters = request.uri.queryParameters
        let search = Search(
            label: parameters["label"].map(String.init) ?? "", category: parameters["category"].map(String.init) ?? "",
            text: parameters["text"].map(String.init) ?? "", color: parameters["color"].map(String.init) ?? "")
        var view = GridPage(
            title: "Gallery", search: search, searching: [search.label, search.category, search.text, search.color].contains { !$0.isEmpty },
            categories: [], colors: [], cards: [], countText: "", nextPage: nil, error: nil)
        do {
            let page = try await ImageRoutes.page(request, services: services, defaultLimit: 60)
            view.cards = page.images.map(card)
            view.countText =
                page.images.isEmpty
                ? (view.searching ? "No image matches." : "No images yet: add some.")
                : "\(page.images.count) image\(page.images.count == 1 ? "" : "s")"
                    + (page.nextCursor == nil ? "" : ", more on the next page")
            if let cursor = page.nextCursor {
                var items = parameters.filter { $0.key != "cursor" }.map { "\($0.key)=\(formEncoded(String($0.value)))" }
                items.append("cursor=\(cursor)")
                view.nextPage = "/?" + items.joined(separator: "&")
            }
            let store = services.store
            (view.categories, view.colors) = try await services.blocking {
                try store.read { store in
                    (
                        try store.labelCounts(LabelCountQuery(limit: 50, kind: .categories)),
                        try store.labelCounts(LabelCountQuery(limit: 50, kind: .colors))
                    )
                }
            }
        } catch let error as APIError where error.status == .badRequest || error.status == .serviceUnavailable {
            view.error = error.message
        }
        return try await page("grid", view, services: services)
    }

    static func card(_ image: ImageSummary) -> Card {
        let scale = 320.0 / Double(max(image.width, image.height, 1))
        var badges: [String] = []
        if let faces = image.faces, !faces.isEmpty { badges.append(faces.count == 1 ? "1 face" : "\(faces.count) faces") }
        if let text = image.text, !text.lines.isEmpty { badges.append("text") }
        if image.moderation?.labels.isEmpty == false { badges.append("flagged") }
        return Card(
            id: image.id, name: image.name, href: "/images/\(image.id)", thumbnail: "/v1/images/\(image.id)/thumbnail?size=320",
            thumbWidth: max(1, Int((Double(image.width) * min(1, scale)).rounded())),
            thumbHeight: max(1, Int((Double(image.height) * min(1, scale)).rounded())),
            labels: image.labels.prefix(3).map { Percent(name: $0.name, percent: percent($0.confidence)) }, badges: badges)
    }

    struct LabelRow {
        var name: String
        var percent: String
        var parents: String?
    }

    struct Box {
        var left: String
        var top: String
        var width: String
        var height: String
        var percent: String
    }

    struct Line {
        var text: String
        var percent: String
        var points: String
    }

    struct Properties {
        var brightness: String
        var contrast: String
        var sharpness: String
        var colors: [Swatch]
    }

    struct Swatch {
        var hex: String
        var css: String
        var simple: String
        var share: String
    }

    struct Moderation {
        var verdict: String
        var labels: [Percent]
    }

    struct ImagePage: PageView {
        var title: String
        var deadLetterCount: Int?
        var id: String
        var name: String
        var photo: String
        var content: String
        var json: String
        var width: Int
        var height: Int
        var sizeText: String
        var labels: [LabelRow]
        var categories: [Percent]
        var hasCategories: Bool
        var faces: [Box]
        var hasFaces: Bool
        var faceText: String
        var lines: [Line]
        var hasText: Bool
        var moderation: Moderation?
        var properties: Properties?
        var source: String
        var fetched: String
        var recognized: String
        var model: String
        var notified: String
    }

    static func image(_ id: String, services: APIServices) async throws -> Response {
        let image = try await ImageRoutes.image(id, services: services).image
        let faces = image.faces ?? []
        let lines = image.text?.lines ?? []
        let view = ImagePage(
            title: image.name, id: image.id, name: image.name, photo: "/v1/images/\(image.id)/thumbnail?size=640",
            content: "/v1/images/\(image.id)/content", json: "/v1/images/\(image.id)", width: image.width, height: image.height,
            sizeText: ByteCountFormatter.string(fromByteCount: Int64(image.byteSize), countStyle: .file),
            labels: image.labels.map {
                LabelRow(
                    name: $0.name, percent: percent($0.confidence), parents: $0.parents.isEmpty ? nil : "in " + $0.parents.joined(separator: " › "))
            },
            categories: image.categories.map { Percent(name: $0.name, percent: percent($0.confidence)) }, hasCategories: !image.categories.isEmpty,
            faces: faces.map {
                Box(
                    left: unit($0.box.left), top: unit($0.box.top), width: unit($0.box.width), height: unit($0.box.height),
                    percent: percent($0.confidence))
            },
            hasFaces: image.faces != nil,
            faceText: faces.isEmpty ? "No faces found." : faces.count == 1 ? "1 face (boxed in yellow)." : "\(faces.count) faces (boxed in yellow).",
            lines: lines.map { line in
                Line(
                    text: line.text, percent: percent(line.confidence),
                    points: line.polygon.map { "\(unit($0.x)),\(unit($0.y))" }.joined(separator: " "))
            },
            hasText: !lines.isEmpty,
            moderation: image.moderation.map { section in
                Moderation(
                    verdict: section.labels.isEmpty ? "Safe: no moderation label at \(percent(section.minConfidence))% or more." : "Flagged.",
                    labels: section.labels.map { Percent(name: $0.name, percent: percent($0.confidence)) })
            },
            properties: image.properties.map { properties in
                Properties(
                    brightness: String(format: "%.0f", properties.brightness), contrast: String(format: "%.0f", properties.contrast),
                    sharpness: String(format: "%.0f", properties.sharpness),
                    colors: properties.colors.map { Swatch(hex: $0.hex, css: $0.cssName, simple: $0.simpleName, share: percent($0.share)) })
            },
            source: image.sourceURL, fetched: timeText(image.fetchedAt), recognized: timeText(image.recognizedAt),
            model: "\(image.modelName) \(image.modelVersion)", notified: image.notifiedAt.map(timeText) ?? "not yet")
        return try await page("image", view, services: services)
    }

    struct SubmitPage: PageView {
        var title: String
        var deadLetterCount: Int?
        var urls = ""
        var hasResults = false
        var accepted: [Submission.Accepted] = []
        var failed: [Submission.Failed] = []
    }

    /// The form's URLs: one per line, a name after the first space.
    static func submit(_ request: Request, services: APIServices) async throws -> Response {
        let body = try await Submission.collect(request, limit: services.limits.maxJSONBytes, what: "the form")
        let form = formFields(String(buffer: body))
        let text = form["urls"] ?? ""
        let items = text.split(whereSeparator: \.isNewline).compactMap { line -> Submission.Item? in
            let parts = line.trimmingCharacters(in: .whitespaces).split(separator: " ", maxSplits: 1)
            guard let url = parts.first else { return nil }
            return Submission.Item(url: String(url), name: parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : nil)
        }
        var view = SubmitPage(title: "Add images", urls: text)
        if items.isEmpty || items.count > services.limits.maxURLsPerRequest {
            view.failed = [
                Submission.Failed(url: "", name: nil, error: "give 1 to \(services.limits.maxURLsPerRequest) URLs, one per line", transient: false)
            ]
            view.hasResults = true
            return try await page("submit", view, services: services, status: .badRequest)
        }
        let results = await Submission.fetch(items, services: services)
        let reply = Submission.summarize(results, services: services)
        view.accepted = reply.accepted
        view.failed = reply.errors
        view.hasResults = true
        view.urls = view.failed.map(\.url).joined(separator: "\n")
        return try await page("submit", view, services: services, status: view.accepted.isEmpty ? .unprocessableContent : .ok)
    }

    struct DeadQueue {
        var name: String
        var count: Int
        var hasMessages: Bool
        var messages: [DeadMessage]
    }

    struct DeadMessage {
        var image: String
        var reason: String
        var receives: Int
        var when: String
    }

    struct DeadLettersPage: PageView {
        var title: String
        var deadLetterCount: Int?
        var queues: [DeadQueue]
    }

    /// The pipeline's dead-letter queues and their oldest 50 messages each. Only those queues are read:
    /// asking every queue for its configuration would also count the archives, which hold every message.
    static func deadLetters(services: APIServices) async throws -> Response {
        let bus = services.bus
        let queues = try await services.blocking { () throws -> [DeadQueue] in
            do {
                let existing = Set(try bus.queues())
                return try Topology.deadLetterQueues.filter(existing.contains).map { target -> DeadQueue in
                    let peeked = try bus.peek(target, count: 50, all: true)
                    let count = try bus.stats(of: target).visible
                    return DeadQueue(
                        name: target, count: count, hasMessages: !peeked.isEmpty,
                        messages: peeked.map { item in
                            let last = item.deadLetters.last
                            return DeadMessage(
                                image: item.message.attributes[MessageAttribute.imageID] ?? item.message.id, reason: last?.reason ?? "unknown",
                                receives: last?.receiveCount ?? item.receiveCount, when: timeText(last?.at ?? item.enqueuedAt))
                        })
                }
            } catch {
                throw APIError.unavailable("the bus cannot be read: \(error)")
            }
        }
        return try await page("dead-letters", DeadLettersPage(title: "Dead letters", queues: queues), services: services)
    }

    struct LoginPage: PageView {
        var title: String
        var deadLetterCount: Int?
        var failed: Bool
    }

    /// Checks a key typed into the login form and keeps it in an HttpOnly, same-site cookie.
    static func login(_ request: Request, services: APIServices) async throws -> Response {
        let body = try await Submission.collect(request, limit: 16 << 10, what: "the form")
        let key = formFields(String(buffer: body))["key"]?.trimmingCharacters(in: .whitespaces) ?? ""
        guard services.keyring.isEmpty || services.keyring.key(for: key) != nil else {
            return Response(status: .seeOther, headers: [.location: "/login?failed=1"])
        }
        var headers: HTTPFields = [.location: "/"]
        headers[.setCookie] =
            Cookie(name: AccessMiddleware.cookieName, value: key, maxAge: 30 * 86400, path: "/", httpOnly: true, sameSite: .strict).description
        return Response(status: .seeOther, headers: headers)
    }

    // MARK: Rendering

    /// Renders a page with the dead-letter count in its header.
    static func page<View: PageView>(_ template: String, _ view: View, services: APIServices, status: HTTPResponse.Status = .ok) async throws
        -> Response
    {
        var view = view
        let bus = services.bus
        let dead =
            (try? await services.blocking { () -> Int in
                Topology.deadLetterQueues.reduce(0) { $0 + ((try? bus.stats(of: $1).visible) ?? 0) }
            }) ?? 0
        view.deadLetterCount = dead > 0 ? dead : nil
        let html = library.render(view, withTemplate: template) ?? "template \(template) is missing"
        return Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    static func percent(_ value: Double) -> String { String(format: value < 10 ? "%.1f" : "%.0f", value) }
    static func unit(_ value: Double) -> String { String(format: "%.4f", value) }
    static func timeText(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().dateSeparator(.dash).time(includingFractionalSeconds: false).timeSeparator(.colon))
    }

    /// Fields of an `application/x-www-form-urlencoded` body.
    static func formFields(_ body: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in body.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (text: Substring) in text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(text) }
            fields[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return fields
    }

    static func formEncoded(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
