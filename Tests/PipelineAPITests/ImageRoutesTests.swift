import CurlHTTP
import Foundation
import ImageStore
import Imaging
import PipelineAPI
import PipelineModel
import TestSupport
import Testing

@Suite("API: reading images", .serialized)
struct ImageRoutesTests {
    @Test("cursor paging walks every image once, newest first, and the last page says so")
    func cursorPaging() async throws {
        let api = try await APIFixture()
        try api.addMany(125)
        var seen: [String] = []
        var cursor: String?
        var pages = 0
        repeat {
            let reply = try await api.get("/v1/images?label=filler&limit=50" + (cursor.map { "&cursor=\($0)" } ?? ""))
            #expect(reply.status == 200)
            let page = try api.json(reply)
            let images = try #require(page["images"] as? [[String: Any]])
            seen += images.compactMap { $0["id"] as? String }
            cursor = page["next_cursor"] as? String
            pages += 1
        } while cursor != nil && pages < 10
        #expect(pages == 3)
        #expect(seen.count == 125 && Set(seen).count == 125, "every image once")
        // By confidence, through a different sort's cursor.
        var byConfidence: [Double] = []
        cursor = nil
        repeat {
            let page = try api.json(
                try await api.get("/v1/images?label=filler&sort=confidence&limit=40" + (cursor.map { "&cursor=\($0)" } ?? "")))
            byConfidence += (page["images"] as? [[String: Any]] ?? []).compactMap { $0["match_confidence"] as? Double }
            cursor = page["next_cursor"] as? String
        } while cursor != nil
        #expect(byConfidence.count == 125 && byConfidence == byConfidence.sorted(by: >))
        // A time cursor cannot continue a confidence listing, and garbage is no cursor.
        let first = try api.json(try await api.get("/v1/images?limit=1"))
        let timeCursor = try #require(first["next_cursor"] as? String)
        #expect(try await api.get("/v1/images?sort=confidence&cursor=\(timeCursor)").status == 400)
        #expect(try await api.get("/v1/images?cursor=c1.bm9wZQ").status == 400)
        await api.stop()
    }

    @Test("filters are list-images' own: label with parents, faces, text, bad values answered 400 with the reason")
    func filters() async throws {
        let api = try await APIFixture()
        try api.addSamples()
        func names(_ query: String) async throws -> [String] {
            let reply = try await api.get("/v1/images?" + query)
            #expect(reply.status == 200, "\(query): \(String(decoding: reply.body, as: UTF8.self))")
            return (try api.json(reply)["images"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        }
        #expect(try await names("label=animal") == ["cat"])
        #expect(try await names("label=cat&label=espresso").sorted() == ["cat", "coffee"])
        #expect(try await names("faces=1") == ["grace-hopper"])
        #expect(try await names("text=segmentation%20marker") == ["page"])
        #expect(try await names("text=%22segmentation%20marker%22").isEmpty, "a quoted phrase keeps its order")
        #expect(try await names("limit=2").count == 2)
        for bad in ["min_confidence=200", "faces=two", "sort=size", "limit=0", "limit=500", "since=yesterdayish", "colour=red", "label=a&match=some"]
        {
            let reply = try await api.get("/v1/images?" + bad)
            #expect(reply.status == 400, "\(bad)")
            let error = try api.json(reply)["error"] as? [String: Any]
            #expect(error?["code"] as? String == "bad_request" && (error?["message"] as? String)?.isEmpty == false, "\(bad)")
            #expect(reply.contentType?.hasPrefix("application/json") == true)
        }
        await api.stop()
    }

    @Test("one image by id or prefix; content with a strong ETag and 304; thumbnails made once and cached")
    func detailContentThumbnail() async throws {
        let api = try await APIFixture()
        try api.addSamples()
        let id = try #require(api.sampleIDs["cat"])
        let detail = try api.json(try await api.get("/v1/images/\(id.prefix(10))"))
        #expect(detail["id"] as? String == id && detail["name"] as? String == "cat")
        #expect(detail["match_confidence"] == nil, "a detail is not a listing row")
        #expect(try await api.get("/v1/images/\(String(repeating: "0", count: 64))").status == 404)
        #expect(try await api.get("/v1/images/not-hex").status == 400)

        let original = try Data(contentsOf: APIFixture.samples.appendingPathComponent("cat.jpg"))
        let content = try await api.get("/v1/images/\(id)/content")
        #expect(content.status == 200 && content.body == original && content.contentType == "image/jpeg")
        #expect(content.headers["etag"] == "\"\(id)\"")
        #expect(try await api.get("/v1/images/\(id)/content", headers: ["If-None-Match: \"\(id)\""]).status == 304)

        let thumbnail = try await api.get("/v1/images/\(id)/thumbnail?size=300")
        #expect(thumbnail.status == 200 && thumbnail.contentType == "image/jpeg")
        let header = try ImageInspector.inspect(thumbnail.body, limits: .default)
        #expect(header.format == .jpeg && max(header.width, header.height) == 320, "300 is served from the 320 size")
        let cached = api.home.root.appendingPathComponent("thumbnails/320/\(id.prefix(2))/\(id).jpg")
        #expect(FileManager.default.fileExists(atPath: cached.path))
        let again = try await api.get("/v1/images/\(id)/thumbnail?size=320", headers: ["If-None-Match: \(thumbnail.headers["etag"] ?? "")"])
        #expect(again.status == 304)
        #expect(try await api.get("/v1/images/\(id)/thumbnail?size=huge").status == 400)
        // A row whose file is gone: a clear 410, not a crash.
        try api.addMany(1, label: "ghost")
        let ghost = SHA256.hex(of: Array("filler-ghost-0".utf8))
        #expect(try await api.get("/v1/images/\(ghost)/content").status == 410)
        #expect(try await api.get("/v1/images/\(ghost)/thumbnail").status == 422)
        await api.stop()
    }

    @Test("labels, queues, readiness and metrics")
    func systemRoutes() async throws {
        let api = try await APIFixture()
        // Before any recognition there is no database: not ready, and listings say why.
        #expect(try await api.get("/readyz").status == 503)
        let early = try await api.get("/v1/images")
        #expect(early.status == 503 && early.headers["retry-after"] != nil)
        #expect(String(decoding: early.body, as: UTF8.self).contains("recognize"))
        #expect(try await api.get("/healthz").status == 200)

        try api.addSamples()
        #expect(try await api.get("/readyz").status == 200)
        let labels = try api.json(try await api.get("/v1/labels?contains=ani"))
        #expect((labels["labels"] as? [[String: Any]])?.first?["term"] as? String == "animal")
        #expect(try await api.get("/v1/labels?kind=shapes").status == 400)

        let queues = try api.json(try await api.get("/v1/queues"))["queues"] as? [[String: Any]] ?? []
        let recognize = try #require(queues.first { $0["name"] as? String == Topology.recognizeQueue })
        #expect(recognize["dead_letter_queue"] as? String == Topology.recognizeDeadLetters)
        #expect(recognize["visible"] as? Int == 0)

        let metrics = String(decoding: try await api.get("/metrics").body, as: UTF8.self)
        #expect(metrics.contains("pipeline_images_recognized 4.0"))
        #expect(metrics.contains("pipeline_stage_latency_seconds_count{stage=\"recognize\"} 4"))
        #expect(metrics.contains("pipeline_queue_messages{queue=\"recognize\",state=\"visible\"} 0.0"))
        #expect(metrics.contains("pipeline_api_requests_total{method=\"GET\",route=\"/v1/labels\",status=\"400\"} 1"))
        // A second scrape does not count the same images again.
        let second = String(decoding: try await api.get("/metrics").body, as: UTF8.self)
        #expect(second.contains("pipeline_stage_latency_seconds_count{stage=\"recognize\"} 4"))
        let spec = try await api.get("/openapi.yaml")
        #expect(spec.status == 200 && String(decoding: spec.body, as: UTF8.self).hasPrefix("openapi: 3.1"))
        await api.stop()
    }
}
