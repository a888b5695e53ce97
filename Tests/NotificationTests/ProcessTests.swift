import Bus
import Foundation
import PipelineModel
import TestSupport
import Testing
import WorkerRuntime

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The built `notify-xml` and `mail-sink` executables, run as real processes.
@Suite(.serialized)
struct ProcessTests {
    /// A mail-sink process on a free port.
    struct SinkProcess {
        let process: Process
        let port: Int
        let log: URL
        let stdout: URL
        var url: String { "http://127.0.0.1:\(port)/messages" }

        static func start(outbox: URL, work: URL, extra: [String] = []) throws -> SinkProcess {
            let portFile = work.appendingPathComponent("sink-\(UUID().uuidString.prefix(6)).port")
            let log = work.appendingPathComponent("sink-\(UUID().uuidString.prefix(6)).log")
            // Standard output on its own, to check the first line; logs go to standard error.
            let out = work.appendingPathComponent("sink-\(UUID().uuidString.prefix(6)).out")
            _ = FileManager.default.createFile(atPath: out.path, contents: nil)
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            let process = Process()
            process.executableURL = try BuiltExecutable.url("mail-sink")
            process.arguments = ["--port", "0", "--port-file", portFile.path, "--outbox", outbox.path] + extra
            process.standardOutput = try FileHandle(forWritingTo: out)
            process.standardError = try FileHandle(forWritingTo: log)
            process.standardInput = FileHandle.nullDevice
            try process.run()
            for _ in 0..<600 {
                if let text = try? String(contentsOf: portFile, encoding: .utf8), let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
                {
                    return SinkProcess(process: process, port: port, log: log, stdout: out)
                }
                if !process.isRunning { break }
                usleep(50_000)
            }
            process.terminate()
            throw ProcessTestError("mail-sink did not start: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
        }

        func stop() {
            if process.isRunning { kill(process.processIdentifier, SIGTERM) }
            process.waitUntilExit()
        }

        /// GET /stats as a dictionary.
        func stats() async throws -> [String: Int] {
            let (data, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/stats")!)
            return try JSONDecoder().decode([String: Int].self, from: data)
        }
    }

    struct ProcessTestError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    private func eventFile(in dir: URL) throws -> URL {
        let url = dir.appendingPathComponent("labeled.json")
        try Fixtures.body(Fixtures.labeled()).write(to: url)
        return url
    }

    private func storedXML(_ outbox: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: outbox.path)) ?? []).filter { $0.hasSuffix(".xml") }.sorted()
    }

    @Test func sinkPrintsItsAddressFirstAndEventIsDelivered() async throws {
        let dir = try TemporaryDirectory("notify-proc")
        defer { dir.remove() }
        let outbox = dir.url.appendingPathComponent("outbox")
        let sink = try SinkProcess.start(outbox: outbox, work: dir.url)
        defer { sink.stop() }
        let firstLine = try String(contentsOf: sink.stdout, encoding: .utf8).split(separator: "\n").first.map(String.init)
        #expect(firstLine == "listening on http://127.0.0.1:\(sink.port)")

        let notify = try BuiltExecutable.url("notify-xml")
        let event = try eventFile(in: dir.url)
        let delivered = try await ProcessRunner.run(notify, ["--event", event.path, "--gateway-url", sink.url, "--to", "me@example.org"])
        #expect(delivered.status == 0, "\(delivered.stderr)")
        #expect(delivered.stdout.hasPrefix("completed local-"))
        #expect(storedXML(outbox).count == 1)

        let dry = try await ProcessRunner.run(notify, ["--event", "-", "--to", "me@example.org", "--dry-run"], stdin: try Data(contentsOf: event))
        #expect(dry.status == 0)
        #expect(dry.stdout.contains("<subject>Labels for tabby.jpg: tabby cat, tiger cat</subject>"))
        #expect(storedXML(outbox).count == 1, "a dry run sends nothing")

        let malformed = try await ProcessRunner.run(
            notify, ["--event", "-", "--gateway-url", sink.url, "--to", "me@example.org"], stdin: Data("{}".utf8))
        #expect(malformed.status == 1)
        #expect(malformed.stdout.hasPrefix("dead-letter local-"))

        let usage = try await ProcessRunner.run(notify, ["--event", event.path, "--to", "not-an-address"])
        #expect(usage.status == 64)
    }

    @Test func badRequestFromTheGatewayIsADeadLetter() async throws {
        let dir = try TemporaryDirectory("notify-proc400")
        defer { dir.remove() }
        let outbox = dir.url.appendingPathComponent("outbox")
        let sink = try SinkProcess.start(outbox: outbox, work: dir.url, extra: ["--fail-first", "1", "--fail-status", "400"])
        defer { sink.stop() }
        let result = try await ProcessRunner.run(
            try BuiltExecutable.url("notify-xml"),
            ["--event", try eventFile(in: dir.url).path, "--gateway-url", sink.url, "--to", "me@example.org"])
        #expect(result.status == 1)
        #expect(result.stdout.contains("dead-letter"))
        #expect(result.stdout.contains("400"))
        #expect(storedXML(outbox).isEmpty)
    }

    /// Publishes one image.labeled message into a fresh home whose notify queue redelivers fast.
    private func homeWithOneMessage(_ dir: URL, id: String, visibility: TimeInterval) throws -> (PipelineHome, FileBus) {
        let home = PipelineHome(root: dir.appendingPathComponent("home"))
        try home.createDirectories()
        let bus = try FileBus(root: home.busDirectory)
        try Topology.ensure(on: bus)
        try bus.createQueue(
            Topology.notifyQueue,
            configuration: QueueConfiguration(
                visibilityTimeout: visibility, maxReceiveCount: 10, deadLetterQueue: Topology.notifyDeadLetters))
        try bus.publish(
            topic: Topology.imageLabeledTopic, body: Fixtures.body(Fixtures.labeled()),
            attributes: [MessageAttribute.type: Topology.imageLabeledTopic], id: id)
        return (home, bus)
    }

    private func waitUntil(_ seconds: Double, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return try await condition()
    }

    private func queueIsEmpty(_ bus: FileBus, _ queue: String) throws -> Bool {
        let stats = try bus.stats(of: queue)
        return stats.visible + stats.inFlight + stats.delayed == 0
    }

    @Test func killMinusNineMidPostThenRestartStoresExactlyOnce() async throws {
        let dir = try TemporaryDirectory("notify-kill9")
        defer { dir.remove() }
        let (home, bus) = try homeWithOneMessage(dir.url, id: "labeled-kill9", visibility: 3)
        let outbox = dir.url.appendingPathComponent("outbox")
        // A slow gateway, so the POST is certainly in progress when the notifier dies.
        let sink = try SinkProcess.start(outbox: outbox, work: dir.url, extra: ["--delay-ms", "3000"])
        defer { sink.stop() }
        let arguments = [
            "--home", home.root.path, "--gateway-url", sink.url, "--to", "me@example.org",
            "--poll-wait", "0.2", "--timeout", "30",
        ]
        let notify = try BuiltExecutable.url("notify-xml")

        let first = try ProcessRunner.start(notify, arguments, logFile: dir.url.appendingPathComponent("notify-1.log"))
        let posting = try await waitUntil(120) { try await sink.stats()["inFlight"] ?? 0 >= 1 }
        #expect(posting, "the notifier never reached the gateway")
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        #expect(first.terminationReason == .uncaughtSignal)

        let second = try ProcessRunner.start(notify, arguments, logFile: dir.url.appendingPathComponent("notify-2.log"))
        defer { if second.isRunning { kill(second.processIdentifier, SIGKILL) } }
        let drained = try await waitUntil(120) { try queueIsEmpty(bus, Topology.notifyQueue) }
        #expect(drained, "the message was not acked after the restart")
        kill(second.processIdentifier, SIGTERM)
        second.waitUntilExit()
        #expect(second.terminationStatus == 0)

        #expect(storedXML(outbox) == ["labeled-kill9.xml"])
        #expect(try queueIsEmpty(bus, Topology.notifyDeadLetters))
        let stats = try await sink.stats()
        #expect(stats["accepted"] == 1)
        #expect((stats["duplicates"] ?? 0) >= 1, "the redelivered POST was recognised as a repeat")
    }

    @Test func sigtermFinishesThePostInHand() async throws {
        let dir = try TemporaryDirectory("notify-term")
        defer { dir.remove() }
        let (home, bus) = try homeWithOneMessage(dir.url, id: "labeled-term", visibility: 60)
        let outbox = dir.url.appendingPathComponent("outbox")
        let sink = try SinkProcess.start(outbox: outbox, work: dir.url, extra: ["--delay-ms", "1500"])
        defer { sink.stop() }
        let notify = try ProcessRunner.start(
            try BuiltExecutable.url("notify-xml"),
            ["--home", home.root.path, "--gateway-url", sink.url, "--to", "me@example.org", "--poll-wait", "0.2"],
            logFile: dir.url.appendingPathComponent("notify.log"))
        defer { if notify.isRunning { kill(notify.processIdentifier, SIGKILL) } }
        let posting = try await waitUntil(120) { try await sink.stats()["inFlight"] ?? 0 >= 1 }
        #expect(posting)
        kill(notify.processIdentifier, SIGTERM)
        notify.waitUntilExit()
        #expect(notify.terminationStatus == 0)
        #expect(storedXML(outbox) == ["labeled-term.xml"])
        #expect(try queueIsEmpty(bus, Topology.notifyQueue), "the delivered message was acked before exit")
    }

    @Test func dryRunPutsQueuedMessagesBackAndOnceDeliversOne() async throws {
        let dir = try TemporaryDirectory("notify-once")
        defer { dir.remove() }
        let (home, bus) = try homeWithOneMessage(dir.url, id: "labeled-once", visibility: 60)
        let outbox = dir.url.appendingPathComponent("outbox")
        let sink = try SinkProcess.start(outbox: outbox, work: dir.url)
        defer { sink.stop() }
        let notify = try BuiltExecutable.url("notify-xml")
        let common = ["--home", home.root.path, "--gateway-url", sink.url, "--to", "me@example.org", "--poll-wait", "1"]

        let dry = try await ProcessRunner.run(notify, common + ["--dry-run"])
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stdout.contains("<id>labeled-once</id>"))
        #expect(try bus.stats(of: Topology.notifyQueue).visible == 1, "the dry run put the message back")
        #expect(storedXML(outbox).isEmpty)

        let once = try await ProcessRunner.run(notify, common + ["--once"])
        #expect(once.status == 0, "\(once.stderr)")
        #expect(once.stdout.contains("processed 1 message(s): 1 completed"))
        #expect(try queueIsEmpty(bus, Topology.notifyQueue))
        #expect(storedXML(outbox) == ["labeled-once.xml"])
    }
}
