import Bus
import CurlHTTP
import Foundation
import ImageStore
import PipelineAPI
import PipelineModel
import TestSupport
import Testing

@Suite("API: submitting images", .serialized)
struct SubmissionTests {
    static let cat = try! Data(contentsOf: APIFixture.samples.appendingPathComponent("cat.jpg"))

    /// A loopback "internet" with a photo, an HTML page, a 404 and a cut JPEG.
    static func internet() async throws -> TestHTTPServer {
        let server = try await TestHTTPServer.started()
        await server.route("/cat.jpg") { _ in TestResponses.ok(cat, contentType: "image/jpeg") }
        await server.route("/page.jpg") { _ in TestResponses.ok(Data("<!doctype html><p>not a photo".utf8), contentType: "image/jpeg") }
        await server.route("/cut.jpg") { _ in TestResponses.ok(cat.prefix(cat.count / 2), contentType: "image/jpeg") }
        return server
    }

    @Test("URLs are fetched, stored, published for recognition; duplicates and failures are reported per URL")
    func submitURLs() async throws {
        let api = try await APIFixture()
        let server = try await Self.internet()
        let reply = try await api.postJSON("/v1/images", #"{"url": "\#(server.url("/cat.jpg"))", "name": "my cat"}"#)
        #expect(reply.status == 202, "\(String(decoding: reply.body, as: UTF8.self))")
        let accepted = try #require((try api.json(reply)["accepted"] as? [[String: Any]])?.first)
        #expect(accepted["image_id"] as? String == SHA256.hex(of: Self.cat))
        #expect(accepted["status"] as? String == "ok" && accepted["name"] as? String == "my cat")
        #expect(try api.bus.stats(of: Topology.recognizeQueue).visible == 1, "one image.stored for the recognizer")

        // A batch: the same photo again, an HTML page, a 404, a cut file, a non-URL.
        let urls = ["/cat.jpg", "/page.jpg", "/missing.jpg", "/cut.jpg"].map { #"{"url": "\#(server.url($0))"}"# } + [#"{"url": "ftp x"}"#]
        let batch = try await api.postJSON("/v1/images", #"{"images": [\#(urls.joined(separator: ","))]}"#)
        #expect(batch.status == 202)
        let body = try api.json(batch)
        #expect((body["accepted"] as? [[String: Any]])?.map { $0["status"] as? String } == ["duplicate"])
        let errors = try #require(body["errors"] as? [[String: Any]])
        #expect(errors.count == 4)
        #expect(errors.contains { ($0["url"] as? String)?.hasSuffix("/missing.jpg") == true && $0["http_status"] as? Int == 404 })
        #expect(errors.allSatisfy { ($0["error"] as? String)?.isEmpty == false })
        #expect(try api.bus.stats(of: Topology.recognizeQueue).visible == 1, "nothing more published")

        // Nothing accepted: 422 with the same shape.
        let none = try await api.postJSON("/v1/images", #"[{"url": "\#(server.url("/page.jpg"))"}]"#)
        let noneErrors = try api.json(none)["errors"] as? [Any]
        #expect(none.status == 422 && noneErrors?.count == 1)
        await server.stop()
        await api.stop()
    }

    @Test("a remote client cannot make the server fetch loopback or link-local addresses")
    func addressPolicy() async throws {
        let api = try await APIFixture(allowPrivate: false)
        let server = try await Self.internet()
        for url in [server.url("/cat.jpg"), "http://169.254.169.254/latest/meta-data/", "http://[::1]:\(server.port)/cat.jpg"] {
            let reply = try await api.postJSON("/v1/images", #"{"url": "\#(url)"}"#)
            #expect(reply.status == 422, "\(url)")
            let error = (try api.json(reply)["errors"] as? [[String: Any]])?.first?["error"] as? String ?? ""
            #expect(error.contains("loopback") || error.contains("link-local") || error.contains("address"), "\(url): \(error)")
        }
        #expect(try api.bus.stats(of: Topology.recognizeQueue).visible == 0)
        await server.stop()
        await api.stop()
    }

    @Test("an uploaded body is checked like a download: a photo is accepted, a cut file and a bomb are not")
    func uploads() async throws {
        let api = try await APIFixture()
        let ok = try await api.request(.post, "/v1/images?name=upload-cat", body: Self.cat, headers: ["Content-Type: image/jpeg"])
        #expect(ok.status == 202)
        let accepted = try #require((try api.json(ok)["accepted"] as? [[String: Any]])?.first)
        #expect(accepted["image_id"] as? String == SHA256.hex(of: Self.cat) && accepted["name"] as? String == "upload-cat")
        for bad in ["truncated.jpg", "bomb-50000x50000.png", "page.html", "empty.jpg"] {
            let bytes = try Data(contentsOf: APIFixture.fixtures.appendingPathComponent("bad/\(bad)"))
            let reply = try await api.request(.post, "/v1/images", body: bytes, headers: ["Content-Type: application/octet-stream"])
            #expect(reply.status == 422, "\(bad): \(String(decoding: reply.body, as: UTF8.self))")
        }
        #expect(try api.bus.stats(of: Topology.recognizeQueue).visible == 1)
        await api.stop()
    }

    @Test("malformed, oversized and unsupported requests get clear JSON errors")
    func badRequests() async throws {
        var limits = APILimits()
        limits.maxJSONBytes = 4096
        limits.maxUploadBytes = 10_000
        limits.maxURLsPerRequest = 3
        let api = try await APIFixture(limits: limits)
        func check(_ reply: HTTPReply, _ status: Int, _ code: String) throws {
            #expect(reply.status == status, "\(String(decoding: reply.body, as: UTF8.self))")
            #expect((try api.json(reply)["error"] as? [String: Any])?["code"] as? String == code)
        }
        try check(try await api.postJSON("/v1/images", "{not json"), 400, "bad_request")
        try check(try await api.postJSON("/v1/images", #"{"link": "http://x"}"#), 400, "bad_request")
        try check(try await api.postJSON("/v1/images", "[]"), 400, "bad_request")
        let four = Array(repeating: #"{"url": "http://example.org/a.jpg"}"#, count: 4).joined(separator: ",")
        try check(try await api.postJSON("/v1/images", "[\(four)]"), 413, "too_many_urls")
        try check(try await api.postJSON("/v1/images", "[" + String(repeating: " ", count: 5000) + "]"), 413, "too_large")
        try check(try await api.request(.post, "/v1/images", body: Self.cat, headers: ["Content-Type: image/jpeg"]), 413, "too_large")
        try check(
            try await api.request(.post, "/v1/images", body: Data("x".utf8), headers: ["Content-Type: text/plain"]), 415, "unsupported_media_type")
        await api.stop()
    }

    @Test("a hostile client: garbage bytes, a lying Content-Length, a slow body; the server keeps serving")
    func hostileClients() async throws {
        let api = try await APIFixture()
        // Not HTTP at all.
        let garbage = try RawSocket.exchange(port: api.port, send: Data([0, 1, 2, 255]) + Data(" \r\n\r\n".utf8))
        #expect(garbage.isEmpty || garbage.hasPrefix("HTTP/1.1 400"), "\(garbage)")
        // A 100 MB JSON body announced: refused from the header, before reading it.
        let huge = try RawSocket.exchange(
            port: api.port,
            send: Data("POST /v1/images HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n[".utf8))
        #expect(huge.hasPrefix("HTTP/1.1 413"), "\(huge)")
        // A request line far past any sane size.
        let long = try RawSocket.exchange(
            port: api.port, send: Data(("GET /v1/images?label=" + String(repeating: "a", count: 200_000) + " HTTP/1.1\r\nHost: x\r\n\r\n").utf8))
        #expect(long.isEmpty || long.hasPrefix("HTTP/1.1 4"), "\(long.prefix(80))")
        #expect(try await api.get("/healthz").status == 200, "still serving")
        await api.stop()
    }
}

/// A plain TCP exchange for requests no HTTP client would send.
enum RawSocket {
    /// Sends `data` to 127.0.0.1:`port` and returns what comes back within 2 s (until the peer closes or stays silent).
    static func exchange(port: Int, send data: Data) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw FixtureError("socket failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw FixtureError("connect failed") }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = data.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var received = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count <= 0 { break }
            received.append(contentsOf: buffer[0..<count])
            if received.count > 1 << 20 { break }
        }
        return String(decoding: received, as: UTF8.self)
    }
}
