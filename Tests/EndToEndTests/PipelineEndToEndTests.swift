import Foundation
import PipelineModel
import TestSupport
import Testing

/// The real executables wired together as a user runs them: a loopback web server →
/// fetch-image → recognize → SQLite → notify-xml → mail-sink (a real gateway process).
@Suite("Pipeline end to end", .serialized)
struct PipelineEndToEndTests {
    static let root = BuiltExecutable.projectRoot()
    static let samples = root.appendingPathComponent("Models/samples")

    @Test("sample photos come out labelled in SQLite and notified as XML naming the right labels")
    func samplePhotosEndToEnd() async throws {
        let temp = try TemporaryDirectory("e2e")
        defer { temp.remove() }
        let home = temp.url.appendingPathComponent("home")
        let outbox = temp.url.appendingPathComponent("outbox")
        let expected = try JSONDecoder().decode(
            [String: [String]].self,
            from: Data(contentsOf: Self.samples.appendingPathComponent("expected.json")))
        let photos = ["cat.jpg", "coffee.jpg", "rocket.jpg"]

        // The "internet": the photos, plus a page that pretends to be a JPEG.
        let server = try await TestHTTPServer.started()
        for photo in photos {
            let bytes = try Data(contentsOf: Self.samples.appendingPathComponent(photo))
            await server.route("/photos/\(photo)") { _ in TestResponses.ok(bytes, contentType: "image/jpeg") }
        }
        await server.route("/photos/not-a-photo.jpg") { _ in
            TestResponses.ok(Data("<!doctype html><html><body>Sorry</body></html>".utf8), contentType: "image/jpeg")
        }

        // The e-mail gateway, a separate process.
        let portFile = temp.url.appendingPathComponent("sink.port")
        let sink = try ProcessRunner.start(
            try BuiltExecutable.url("mail-sink"),
            ["--port", "0", "--port-file", portFile.path, "--outbox", outbox.path],
            logFile: temp.url.appendingPathComponent("sink.log"))
        defer {
            sink.terminate()
            sink.waitUntilExit()
        }
        let port = try await Self.waitForContents(of: portFile)
        let gateway = "http://127.0.0.1:\(port)/messages"

        // URLs in: three photos and one bad URL; one result line each, exit 2 for the failure.
        var input = photos.map { "\(server.url("/photos/\($0)"))\t\(($0 as NSString).deletingPathExtension)" }
        input.append(server.url("/photos/not-a-photo.jpg"))
        let fetch = try await ProcessRunner.run(
            try BuiltExecutable.url("fetch-image"),
            ["--home", home.path, "--allow-private"],
            stdin: Data((input.joined(separator: "\n") + "\n").utf8))
        #expect(fetch.status == 2, "fetch-image: \(fetch.stdout)\n\(fetch.stderr)")
        let resultLines = fetch.stdout.split(separator: "\n").filter { !$0.isEmpty && !$0.contains(" ok, ") }
        #expect(resultLines.count >= 4, "one line per URL: \(fetch.stdout)")
        #expect(fetch.stdout.contains("not-a-photo.jpg"))

        // Both workers running as services, stopped with SIGTERM once everything is delivered.
        let traceFile = temp.url.appendingPathComponent("trace.jsonl")
        let recognize = try ProcessRunner.start(
            try BuiltExecutable.url("recognize"),
            ["run", "--home", home.path, "--batch-size", "4", "--threads", "2"],
            logFile: temp.url.appendingPathComponent("recognize.log"))
        let notify = try ProcessRunner.start(
            try BuiltExecutable.url("notify-xml"),
            [
                "--home", home.path, "--gateway-url", gateway, "--to", "ops@example.org",
                "--trace", traceFile.path,
            ],
            logFile: temp.url.appendingPathComponent("notify.log"))
        let delivered = try await Self.waitForFiles(in: outbox, count: photos.count, timeout: 240)
        for worker in [recognize, notify] { worker.terminate() }
        for worker in [recognize, notify] { worker.waitUntilExit() }
        #expect(recognize.terminationStatus == 0, "recognize exits cleanly on SIGTERM")
        #expect(notify.terminationStatus == 0, "notify-xml exits cleanly on SIGTERM")
        let recognizeLog = (try? String(contentsOf: temp.url.appendingPathComponent("recognize.log"), encoding: .utf8)) ?? ""
        #expect(delivered.count == photos.count, "notifications: \(delivered.map(\.lastPathComponent))\n\(recognizeLog)")

        // Each notification names the image and its obvious class.
        let documents = try delivered.map { try String(contentsOf: $0, encoding: .utf8) }
        for photo in photos {
            let name = (photo as NSString).deletingPathExtension
            let document = try #require(
                documents.first { $0.contains(server.url("/photos/\(photo)")) },
                "no notification for \(photo)")
            #expect(document.contains("<?xml"))
            #expect(document.contains(name))
            #expect(expected[photo, default: []].contains { document.contains($0) }, "\(photo): \(document)")
            #expect(document.contains("ops@example.org"))
        }

        // The trace has each image's journey: URL read before download, download before
        // recognition, recognition before acceptance, and every stage measured.
        let traces = try String(contentsOf: traceFile, encoding: .utf8).split(separator: "\n").map {
            try MessageCoding.decoder().decode(TraceLine.self, from: Data($0.utf8))
        }
        #expect(traces.count == photos.count)
        for trace in traces {
            let fetch = try #require(trace.fetch, "fetch timing travels with the messages")
            #expect(fetch.requestedAt <= trace.recognizedAt && trace.recognizedAt <= trace.deliveredAt)
            #expect(fetch.downloadMs > 0 && fetch.storeMs > 0)
            #expect(trace.recognition.decodeMs > 0 && trace.recognition.inferenceMs > 0 && trace.recognition.databaseMs > 0)
            #expect(trace.renderMs > 0 && trace.postMs > 0 && trace.attempts == 1)
        }

        // The labels are in SQLite, queryable by a parent label.
        let list = try await ProcessRunner.run(
            try BuiltExecutable.url("list-images"),
            ["--home", home.path, "--format", "json", "--label", "animal"])
        #expect(list.status == 0, "\(list.stderr)")
        #expect(list.stdout.contains("cat"))
        #expect(!list.stdout.contains("espresso"))
        let all = try await ProcessRunner.run(try BuiltExecutable.url("list-images"), ["--home", home.path, "--format", "ndjson"])
        #expect(all.stdout.split(separator: "\n").count == photos.count)
        // notify-xml recorded the gateway's acceptance of each notification, after recognition.
        for line in all.stdout.split(separator: "\n") {
            let row = try MessageCoding.decoder().decode(NotifiedRow.self, from: Data(line.utf8))
            let notified = try #require(row.notifiedAt, "notified_at is set once the gateway accepted: \(line)")
            #expect(notified >= row.recognizedAt)
        }

        // Nothing stuck: queues empty, nothing in flight, no dead letters.
        let status = try await ProcessRunner.run(try BuiltExecutable.url("bus-admin"), ["status", "--home", home.path, "--format", "json"])
        #expect(status.status == 0, "\(status.stderr)")
        let queues = try Self.queueStats(status.stdout)
        for queue in ["recognize", "notify", "recognize.dead", "notify.dead"] {
            #expect(queues[queue]?.visible == 0 && queues[queue]?.inFlight == 0, "\(queue): \(status.stdout)")
        }
        #expect(queues["archive.image.stored"]?.visible == photos.count)
    }

    // MARK: helpers

    struct Timeout: Error, CustomStringConvertible {
        var what: String
        var seconds: TimeInterval
        var description: String { "gave up waiting \(Int(seconds)) s for \(what)" }
    }

    struct QueueCounts {
        var visible: Int
        var inFlight: Int
    }

    /// The fields of a list-images row this test reads.
    struct NotifiedRow: Decodable {
        var recognizedAt: Date
        var notifiedAt: Date?
        enum CodingKeys: String, CodingKey {
            case recognizedAt = "recognized_at"
            case notifiedAt = "notified_at"
        }
    }

    /// Reads `bus-admin status --format json`: queue name → counts, wherever the list sits.
    static func queueStats(_ json: String) throws -> [String: QueueCounts] {
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8))
        var result: [String: QueueCounts] = [:]
        func visit(_ value: Any) {
            if let dict = value as? [String: Any] {
                if let name = dict["queue"] as? String ?? dict["name"] as? String,
                    let visible = dict["visible"] as? Int
                {
                    result[name] = QueueCounts(visible: visible, inFlight: dict["inFlight"] as? Int ?? 0)
                }
                dict.values.forEach(visit)
            } else if let array = value as? [Any] {
                array.forEach(visit)
            }
        }
        visit(object)
        return result
    }

    static func waitForContents(of file: URL, timeout: TimeInterval = 60) async throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let text = try? String(contentsOf: file, encoding: .utf8), !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                return text.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw Timeout(what: "\(file.path) to be written", seconds: timeout)
    }

    static func waitForFiles(in directory: URL, count: Int, timeout: TimeInterval) async throws -> [URL] {
        let deadline = Date().addingTimeInterval(timeout)
        var found: [URL] = []
        while Date() < deadline {
            found = Self.regularFiles(under: directory)
            if found.count >= count { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        return found
    }

    /// The delivered messages: `.xml` files at the outbox's top level. The gateway writes each
    /// one under `.tmp/` first and removes that copy after linking it, so a recursive walk can
    /// list a file that is gone by the time it is read.
    static func regularFiles(under directory: URL) -> [URL] {
        let entries =
            (try? FileManager.default.contentsOfDirectory(
                at: directory, includingPropertiesForKeys: [.isRegularFileKey], options: [.skipsHiddenFiles])) ?? []
        return entries.filter {
            (try? $0.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true
                && $0.pathExtension == "xml"
        }
    }
}

/// The fields of a `notify-xml --trace` line this test reads.
private struct TraceLine: Decodable {
    var fetch: FetchTiming?
    var recognition: RecognitionTiming
    var recognizedAt: Date
    var renderMs: Double
    var postMs: Double
    var attempts: Int
    var deliveredAt: Date
}
