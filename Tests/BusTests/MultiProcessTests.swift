import Bus
import Foundation
import TestSupport
import Testing

/// Real `bus-admin` processes sharing one bus directory: concurrent consumers, and consumers
/// and publishers killed with SIGKILL at arbitrary instants.
@Suite(.serialized) struct MultiProcessTests {
    /// A bus-admin child process whose stdout goes to a file.
    final class Child: @unchecked Sendable {
        let process = Process()
        let output: URL

        init(_ arguments: [String], home: URL, stdin: Data? = nil, name: String) throws {
            output = home.appendingPathComponent("\(name).out")
            _ = FileManager.default.createFile(atPath: output.path, contents: nil)
            process.executableURL = try BuiltExecutable.url("bus-admin")
            process.arguments = arguments + ["--home", home.path, "--log-level", "error"]
            process.standardOutput = try FileHandle(forWritingTo: output)
            process.standardError = FileHandle.standardError
            let input = Pipe()
            process.standardInput = input
            try process.run()
            if let stdin { input.fileHandleForWriting.write(stdin) }
            try input.fileHandleForWriting.close()
        }

        /// Complete lines printed so far (a line cut by a kill has no newline and is ignored).
        var lines: [String] {
            let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
            var parts = text.components(separatedBy: "\n")
            parts.removeLast()
            return parts
        }

        /// Waits for the process to end (killing it after `timeout` seconds) and returns its status.
        func finish(timeout: TimeInterval = 300) async throws -> Int32 {
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            return process.terminationStatus
        }

        /// Waits until at least `count` lines were printed (or `timeout` passed).
        func waitForLines(_ count: Int, timeout: TimeInterval = 120) async throws {
            let deadline = Date().addingTimeInterval(timeout)
            while lines.count < count && process.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(10)) }
        }

        func kill9() {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    struct Printed: Decodable {
        var id: String
        var receiveCount: Int
    }

    @Test func fourConsumerProcessesAckEveryMessageExactlyOnce() async throws {
        let dir = try TemporaryDirectory("bus-multi")
        defer { dir.remove() }
        let bus = try FileBus(root: dir.url.appendingPathComponent("bus"))
        try bus.createQueue("q", configuration: QueueConfiguration(visibilityTimeout: 3600))
        try bus.subscribe(queue: "q", to: "t", filter: AttributeFilter())
        var published = Set<String>()
        for i in 0..<1000 { published.insert(try bus.publish(topic: "t", body: Data("m\(i)".utf8), attributes: [:]).id) }

        let children = try (0..<4).map { n in
            try Child(["receive", "q", "--count", "1000", "--ack", "--wait", "2", "--batch", "5"], home: dir.url, name: "consumer\(n)")
        }
        var acked: [String] = []
        for child in children {
            #expect(try await child.finish() == 0)
            acked += try child.lines.map { try JSONDecoder().decode(Printed.self, from: Data($0.utf8)).id }
        }
        #expect(acked.count == 1000)
        #expect(Set(acked) == published)
        #expect(try bus.stats(of: "q") == QueueStats(queue: "q", visible: 0, inFlight: 0, delayed: 0))
    }

    @Test func messagesHeldByAKilledConsumerReappearAfterTheTimeout() async throws {
        let dir = try TemporaryDirectory("bus-kill-consumer")
        defer { dir.remove() }
        let bus = try FileBus(root: dir.url.appendingPathComponent("bus"))
        try bus.createQueue("q", configuration: QueueConfiguration(visibilityTimeout: 2))
        try bus.subscribe(queue: "q", to: "t", filter: AttributeFilter())
        var published = Set<String>()
        for i in 0..<5 { published.insert(try bus.publish(topic: "t", body: Data("m\(i)".utf8), attributes: [:]).id) }

        let consumer = try Child(["receive", "q", "--count", "5", "--hold", "600"], home: dir.url, name: "consumer")
        try await consumer.waitForLines(5)
        #expect(consumer.lines.count == 5)
        consumer.kill9()
        #expect(try bus.stats(of: "q").inFlight + bus.stats(of: "q").visible == 5)

        var again: [ReceivedMessage] = []
        let deadline = Date().addingTimeInterval(120)
        while again.count < 5 && Date() < deadline {
            again += try await bus.receive(from: "q", maxMessages: 5, visibilityTimeout: 600, wait: 5)
        }
        #expect(Set(again.map(\.message.id)) == published)
        #expect(again.allSatisfy { $0.receiveCount == 2 })
    }

    @Test func publishersKilledAtRandomInstantsLoseNothingAndLeaveNoHalfMessages() async throws {
        let dir = try TemporaryDirectory("bus-kill-publisher")
        defer { dir.remove() }
        let bus = try FileBus(root: dir.url.appendingPathComponent("bus"))
        for queue in ["q1", "q2", "other"] {
            try bus.createQueue(queue, configuration: QueueConfiguration(retention: nil))
        }
        try bus.subscribe(queue: "q1", to: "t", filter: AttributeFilter())
        try bus.subscribe(queue: "q2", to: "t", filter: AttributeFilter(["kind": ["x"]]))
        try bus.subscribe(queue: "other", to: "t", filter: AttributeFilter(["kind": ["y"]]))
        let body = Data(String(repeating: "payload ", count: 512).utf8)

        var reported: [String] = []
        for round in 0..<6 {
            let publisher = try Child(
                ["publish", "t", "--attribute", "kind=x", "--repeat", "1000000"],
                home: dir.url, stdin: body, name: "publisher\(round)")
            try await publisher.waitForLines(1)
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...400)))
            publisher.kill9()
            reported += publisher.lines
        }
        #expect(reported.count >= 6)

        let binary = try BuiltExecutable.url("bus-admin")
        let home = ["--home", dir.url.path]
        let repair = try await ProcessRunner.run(binary, ["check", "--repair", "--tmp-age", "0"] + home)
        #expect(repair.status == 0, "\(repair.stdout)\(repair.stderr)")
        let check = try await ProcessRunner.run(binary, ["check", "--tmp-age", "0"] + home)
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        #expect(check.stdout.contains("clean"))

        for queue in ["q1", "q2"] {
            // peek decodes every file: a half-written message would throw here.
            let ids = try bus.peek(queue, count: Int.max, all: true).map(\.message.id)
            #expect(ids.count == Set(ids).count, "duplicates in \(queue)")
            #expect(Set(reported).isSubset(of: Set(ids)), "lost messages in \(queue)")
            let bodies = try bus.peek(queue, count: Int.max).map(\.message.body)
            #expect(bodies.allSatisfy { $0 == body })
        }
        #expect(try bus.peek("q1", count: Int.max).map(\.message.id) == bus.peek("q2", count: Int.max).map(\.message.id))
        #expect(try bus.stats(of: "other").visible == 0)
    }

    @Test func usageErrorsExitWith64() throws {
        let binary = try BuiltExecutable.url("bus-admin")
        let dir = try TemporaryDirectory("bus-usage")
        defer { dir.remove() }
        #expect(try ProcessRunner.run(binary, ["purge", "q", "--home", dir.url.path]).status == 64)
        #expect(try ProcessRunner.run(binary, ["receive", "q", "--count", "0", "--home", dir.url.path]).status == 64)
        #expect(try ProcessRunner.run(binary, ["frobnicate"]).status == 64)
        let help = try ProcessRunner.run(binary, ["--help"])
        #expect(help.stdout.contains("redrive") && help.stdout.contains("replay"))
    }

    @Test func adminCommandsRoundTrip() throws {
        let binary = try BuiltExecutable.url("bus-admin")
        let dir = try TemporaryDirectory("bus-cli")
        defer { dir.remove() }
        let home = ["--home", dir.url.path, "--log-level", "error"]
        func run(_ arguments: [String], stdin: String? = nil) throws -> ProcessOutput {
            let output = try ProcessRunner.run(
                binary, Array(arguments.prefix(1)) + home + arguments.dropFirst(),
                stdin: stdin.map { Data($0.utf8) })
            #expect(output.status == 0, "\(arguments): \(output.stderr)")
            return output
        }
        _ = try run(["create-queue", "work", "--dead-letter", "work.dead", "--max-receives", "1", "--visibility", "0"])
        _ = try run(["create-queue", "archive.t", "--retention", "0"])
        _ = try run(["subscribe", "work", "--topic", "t", "--filter", "kind=a|b"])
        _ = try run(["subscribe", "archive.t", "--topic", "t"])
        let id = try run(["publish", "t", "--attribute", "kind=a"], stdin: "{\"n\":1}").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        _ = try run(["publish", "t", "--attribute", "kind=c"], stdin: "skipped by the filter")

        let status = try run(["status", "--format", "json"]).stdout
        let json = try #require(try JSONSerialization.jsonObject(with: Data(status.utf8)) as? [String: Any])
        let queues = try #require(json["queues"] as? [[String: Any]])
        let depths = Dictionary(
            uniqueKeysWithValues: queues.compactMap { queue -> (String, Int)? in
                guard let stats = queue["stats"] as? [String: Any], let name = stats["queue"] as? String,
                    let visible = stats["visible"] as? Int
                else { return nil }
                return (name, visible)
            })
        #expect(depths == ["work": 1, "work.dead": 0, "archive.t": 2])
        #expect(try run(["status"]).stdout.contains("work.dead"))

        // Received once without ack, visibility 0: the next look moves it to the dead letters.
        let received = try run(["receive", "work"]).stdout
        #expect(received.contains(id) && received.contains("\"body\":\"{\\\"n\\\":1}\""))
        #expect(try run(["receive", "work", "--wait", "0"]).stdout.isEmpty)
        let dead = try run(["peek", "work.dead"]).stdout
        #expect(dead.contains(id) && dead.contains("maxReceiveCount 1"))
        #expect(try run(["redrive", "work.dead"]).stdout.contains("redrove 1"))
        #expect(try run(["receive", "work", "--ack"]).stdout.contains(id))
        #expect(try run(["replay", "t", "--to", "work", "--since", "2000-01-01T00:00:00Z"]).stdout.contains("replayed 2"))
        #expect(try run(["purge", "work", "--yes"]).stdout.contains("purged 2"))
        #expect(try run(["check"]).stdout.contains("clean"))
    }
}
