import Bus
import Foundation
import PipelineModel
import TestSupport
import Testing

@Suite("Gallery pages (HTML)", .serialized)
struct GalleryTests {
    static func html(_ api: APIFixture, _ path: String) async throws -> String {
        let reply = try await api.get(path)
        #expect(reply.status == 200, "\(path)")
        #expect(reply.contentType?.hasPrefix("text/html") == true)
        return String(decoding: reply.body, as: UTF8.self)
    }

    @Test("the grid lists every image with its top labels; a search narrows it; markup in names is escaped")
    func grid() async throws {
        let api = try await APIFixture()
        try api.addSamples()
        let page = try await Self.html(api, "/")
        for name in ["cat", "coffee", "grace-hopper", "page"] { #expect(page.contains("alt=\"\(name)\""), "\(name)") }
        #expect(page.contains("<meta name=\"viewport\""))
        #expect(page.components(separatedBy: "class=\"card\"").count - 1 == 4)
        let cats = try await Self.html(api, "/?label=animal&category=&text=&color=")
        #expect(cats.components(separatedBy: "class=\"card\"").count - 1 == 1 && cats.contains("alt=\"cat\""))
        let none = try await Self.html(api, "/?label=%3Cscript%3E")
        #expect(none.contains("No image matches") && !none.contains("<script>") && none.contains("&lt;script&gt;"))
        let bad = try await Self.html(api, "/?faces=lots")
        #expect(bad.contains("role=\"alert\""), "a bad search is shown on the page, not a JSON error")
        await api.stop()
    }

    @Test("an image page shows labels with bars, a face box and text-line polygons over the photo")
    func imagePage() async throws {
        let api = try await APIFixture()
        try api.addSamples()
        let hopper = try await Self.html(api, "/images/\(try #require(api.sampleIDs["grace-hopper"]))")
        #expect(hopper.contains("class=\"face-box\" x=\"0.3000\" y=\"0.2000\" width=\"0.4000\" height=\"0.3500\""))
        #expect(hopper.contains("style=\"width: 89%\""))
        let page = try await Self.html(api, "/images/\(try #require(api.sampleIDs["page"]))")
        #expect(page.contains("class=\"text-box\" points=\"0.1000,0.1000 0.9000,0.1000"))
        #expect(page.contains("Marker based segmentation"))
        #expect(try await api.get("/images/\(String(repeating: "a", count: 64))").status == 404)
        await api.stop()
    }

    @Test("dead letters are listed with their reasons; the submit form fetches the URLs it is given")
    func deadLettersAndSubmit() async throws {
        let api = try await APIFixture()
        _ = try api.bus.publish(
            topic: Topology.imageStoredTopic, body: Data("{}".utf8), attributes: [MessageAttribute.imageID: "feedface"])
        let received = try await api.bus.receive(from: Topology.recognizeQueue, maxMessages: 1, visibilityTimeout: 30, wait: 1)
        try api.bus.deadLetter(try #require(received.first), reason: "decode failed: not an image")
        let dead = try await Self.html(api, "/dead-letters")
        #expect(dead.contains("feedface") && dead.contains("decode failed: not an image"))
        #expect(dead.contains("class=\"badge\">1<"), "the count shows in the header")

        let server = try await SubmissionTests.internet()
        let form =
            "urls=" + (server.url("/cat.jpg") + " kitty\n" + server.url("/page.jpg")).addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let reply = try await api.request(.post, "/submit", body: Data(form.utf8), headers: ["Content-Type: application/x-www-form-urlencoded"])
        let html = String(decoding: reply.body, as: UTF8.self)
        #expect(reply.status == 200, "\(html)")
        #expect(html.contains(">kitty</a>") && html.contains("class=\"failed\""))
        await server.stop()
        await api.stop()
    }
}
