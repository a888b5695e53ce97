import CurlHTTP
import Foundation
import Logging
import MailSink
import NotificationXML
import PipelineModel
import TestSupport
import Testing

/// The local e-mail gateway over real HTTP on loopback: what it stores, what it refuses.
@Suite("mail sink")
struct MailSinkTests {
    static let limits = HTTPLimits(connectTimeout: 5, totalTimeout: 20, maxBodyBytes: 1 << 16, userAgent: "mail-sink-test")

    /// A sink on a free port with its outbox in a fresh directory, and a client to talk to it.
    struct Running {
        let directory: TemporaryDirectory
        let sink: MailSink
        let url: String
        let client: CurlHTTP.HTTPClient

        static func start(maxBodyBytes: Int = 1 << 20) async throws -> Running {
            let directory = try TemporaryDirectory("mail-sink")
            let sink = try MailSink(
                configuration: MailSinkConfiguration(
                    port: 0, outbox: directory.url.appendingPathComponent("outbox"),
                    maxBodyBytes: maxBodyBytes),
                logger: Logger(label: "sink") { _ in SwiftLogNoOpLogHandler() })
            let port = try await sink.start()
            return Running(
                directory: directory, sink: sink, url: "http://127.0.0.1:\(port)/messages",
                client: try CurlHTTP.HTTPClient(name: "sink-test", maxHostConnections: 2))
        }

        func post(_ body: String, key: String?, contentType: String = "application/xml") async throws -> CurlHTTP.HTTPReply {
            var headers = ["Content-Type: \(contentType)"]
            if let key { headers.append("Idempotency-Key: \(key)") }
            return try await client.perform(CurlHTTP.HTTPRequest.post(url, body: Data(body.utf8), headers: headers, limits: MailSinkTests.limits))
                .get()
        }

        var stored: [String] { sink.storage.storedFiles() }

        func stop() async {
            client.shutdown(finishRunning: true)
            await sink.stop()
            directory.remove()
        }
    }

    static func document(id: String) throws -> String {
        let labeled = ImageLabeled(
            imageID: String(repeating: "c", count: 64), name: "cat.jpg", sourceURL: "https://example.org/cat.jpg",
            byteSize: 1234, labels: [DetectedLabel(name: "tabby cat", confidence: 61.5, parents: ["cat", "animal"])],
            model: ModelInfo(name: "m", version: "1"), recognizedAt: Date(),
            timing: RecognitionTiming(decodeMs: 1, inferenceMs: 1, databaseMs: 1, queueWaitMs: 1))
        return try NotificationDocument.xml(for: labeled, messageID: id, settings: NotificationSettings(recipients: ["ops@example.org"]))
    }

    @Test("a valid notification is stored once per Idempotency-Key")
    func storesOncePerKey() async throws {
        let running = try await Running.start()
        let document = try Self.document(id: "m-1")
        #expect(try await running.post(document, key: "m-1").status == 202)
        #expect(try await running.post(document, key: "m-1").status == 200, "a repeat is acknowledged as a duplicate")
        #expect(try await running.post(document, key: "m/2 unsafe").status == 202)
        #expect(running.stored.count == 2)
        #expect(running.stored.contains("m-1.xml"))
        #expect(running.stored.contains { $0.hasPrefix("k-") }, "an unsafe key is stored under its hex: \(running.stored)")
        let saved = try String(contentsOf: running.directory.url.appendingPathComponent("outbox/m-1.xml"), encoding: .utf8)
        #expect(saved == document)
        await running.stop()
    }

    @Test("XML that breaks the schema, HTML, a wrong media type and an oversized body are refused; nothing is stored")
    func refusesBadBodies() async throws {
        let running = try await Running.start(maxBodyBytes: 4096)
        let schemaBreaking = try Self.document(id: "m-3").replacingOccurrences(of: "<subject>", with: "<subjekt>")
            .replacingOccurrences(of: "</subject>", with: "</subjekt>")
        #expect(try await running.post(schemaBreaking, key: "m-3").status == 400)
        #expect(try await running.post("<html><body>hello</body></html>", key: "m-4").status == 400)
        #expect(try await running.post("<!DOCTYPE html><html>", key: "m-5", contentType: "text/html").status == 415)
        #expect(try await running.post("<notification>" + String(repeating: "x", count: 8192) + "</notification>", key: "m-6").status == 413)
        #expect(
            try await running.post(try Self.document(id: "m-7"), key: String(repeating: "é", count: 80)).status == 400,
            "a key too long to name a file is refused")
        #expect(running.stored.isEmpty)
        await running.stop()
    }

    @Test("the outbox removes a crashed writer's temporary files when it opens")
    func outboxCleansLeftovers() throws {
        let directory = try TemporaryDirectory("outbox")
        defer { directory.remove() }
        let temporary = directory.url.appendingPathComponent(".tmp")
        try FileManager.default.createDirectory(at: temporary, withIntermediateDirectories: true)
        try Data("half".utf8).write(to: temporary.appendingPathComponent("leftover.xml"))
        let outbox = try Outbox(directory: directory.url)
        #expect(FileTree.files(under: directory.url).isEmpty)
        #expect(try outbox.store(Data("<a/>".utf8), key: "k1") == .stored(file: "k1.xml"))
        #expect(try outbox.store(Data("<a/>".utf8), key: "k1") == .duplicate(file: "k1.xml"))
        #expect(FileTree.files(under: directory.url) == ["/k1.xml"], "no temporary file outlives a store")
    }
}
