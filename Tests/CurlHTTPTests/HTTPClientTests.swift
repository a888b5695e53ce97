import CurlHTTP
import Foundation
import TestSupport
import Testing

/// The client's contract on a real loopback server: GETs and POSTs complete with status,
/// headers and body; limits hold; a graceful shutdown waits for running transfers, an abrupt
/// one ends them, and nothing is accepted afterwards.
@Suite("HTTP client")
struct HTTPClientTests {
    static let limits = HTTPLimits(connectTimeout: 5, totalTimeout: 20, maxBodyBytes: 1 << 20, userAgent: "test")

    static func server() async throws -> TestHTTPServer {
        try await TestHTTPServer.started { server in
            await server.route("GET /fast") { _ in TestResponses.ok(Data("hello".utf8), contentType: "text/plain") }
            await server.route("POST /echo") { request in
                TestResponses.ok(try await request.bodyData, contentType: "application/octet-stream")
            }
            // 20 bytes, one every 100 ms: about 2 s in all.
            await server.route("GET /slow") { _ in
                TestResponses.trickle(Data(repeating: 65, count: 20), chunkSize: 1, interval: .milliseconds(100), contentType: "text/plain")
            }
            await server.route("GET /big") { _ in TestResponses.ok(Data(repeating: 66, count: 4096), contentType: "text/plain") }
        }
    }

    @Test func getAndPostReturnStatusHeadersAndBody() async throws {
        let server = try await Self.server()
        let client = try HTTPClient(name: "test-curl", maxHostConnections: 2)
        let get = try await client.perform(.get(server.url("/fast"), limits: Self.limits)).get()
        #expect(get.status == 200)
        #expect(get.reason == "OK")
        #expect(get.contentType == "text/plain")
        #expect(String(decoding: get.body, as: UTF8.self) == "hello")
        let post = try await client.perform(
            .post(
                server.url("/echo"), body: Data("ping".utf8), headers: ["X-Test: 1"],
                limits: Self.limits)
        ).get()
        #expect(post.status == 200)
        #expect(String(decoding: post.body, as: UTF8.self) == "ping")
        client.shutdown(finishRunning: true)
        await server.stop()
    }

    @Test func bodyLimitFailsGetsAndTruncatesPosts() async throws {
        let server = try await Self.server()
        let client = try HTTPClient(name: "test-curl", maxHostConnections: 2)
        var small = Self.limits
        small.maxBodyBytes = 100
        let get = await client.perform(.get(server.url("/big"), limits: small))
        #expect(get.failure == .tooLarge(limit: 100))
        var truncating = HTTPRequest.get(server.url("/big"), limits: small)
        truncating.overflow = .truncate
        let reply = try await client.perform(truncating).get()
        #expect(reply.body.count == 100)
        client.shutdown(finishRunning: true)
        await server.stop()
    }

    @Test func refusedConnectionIsATransientTransportError() async throws {
        let client = try HTTPClient(name: "test-curl", maxHostConnections: 2)
        // Port 1 on loopback: nothing listens there.
        let result = await client.perform(.get("http://127.0.0.1:1/", limits: Self.limits))
        guard case .transport(let code, _)? = result.failure else {
            Issue.record("expected a transport error, got \(result)")
            return
        }
        #expect(code == .couldNotConnect)
        #expect(result.failure?.isTransient == true)
        client.shutdown(finishRunning: true)
    }

    @Test func transientStatusRule() {
        #expect([408, 429, 500, 502, 503, 599].allSatisfy { HTTPReply.isTransient(status: $0) })
        #expect(![200, 301, 400, 401, 404, 413].contains { HTTPReply.isTransient(status: $0) })
    }

    @Test func gracefulShutdownLetsRunningTransfersFinish() async throws {
        let server = try await Self.server()
        let client = try HTTPClient(name: "test-curl", maxHostConnections: 4)
        let slow = Task { await client.perform(.get(server.url("/slow"), limits: Self.limits)) }
        let fast = try await client.perform(.get(server.url("/fast"), limits: Self.limits)).get()
        #expect(fast.status == 200)
        try await Task.sleep(for: .milliseconds(200))  // the slow one is running
        client.shutdown(finishRunning: true)
        let slowReply = try await slow.value.get()
        #expect(slowReply.status == 200, "shutdown returned before the running transfer ended")
        #expect(slowReply.body.count == 20)
        let late = await client.perform(.get(server.url("/fast"), limits: Self.limits))
        #expect(late.failure == .stopped, "a stopped client must refuse new requests")
        await server.stop()
    }

    @Test func abruptShutdownEndsRunningTransfers() async throws {
        let server = try await Self.server()
        let client = try HTTPClient(name: "test-curl", maxHostConnections: 4)
        let slow = Task { await client.perform(.get(server.url("/slow"), limits: Self.limits)) }
        try await Task.sleep(for: .milliseconds(300))  // running, far from done
        let started = Date()
        client.shutdown(finishRunning: false)
        #expect(await slow.value.failure == .stopped)
        #expect(Date().timeIntervalSince(started) < 1.5, "abandoning should not wait for the slow body")
        await server.stop()
    }
}

extension Result {
    /// The error, nil on success.
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
