import Bus
import Foundation
import Logging
import PipelineModel
import Testing
import WorkerRuntime

/// A handler whose outcome is named by the message body: "ok", "retry" or "dead".
private struct ScriptedHandler: MessageHandler {
    func handle(_ batch: [ReceivedMessage], logger: Logger) async -> [MessageOutcome] {
        batch.map { message in
            switch String(decoding: message.message.body, as: UTF8.self) {
            case "ok": return .completed
            case "retry": return .retry(delay: 0, reason: "try again")
            default: return .deadLetter(reason: "bad body")
            }
        }
    }
}

@Suite("Worker loop")
struct WorkerLoopTests {
    static func bus() throws -> InMemoryBus {
        let bus = InMemoryBus()
        try Topology.ensure(on: bus)
        return bus
    }

    @Test("outcomes are applied: completed is acked, retry comes back, dead letters move to the DLQ")
    func outcomesAreApplied() async throws {
        let bus = try Self.bus()
        for body in ["ok", "retry", "dead"] {
            try bus.publish(topic: Topology.imageStoredTopic, body: Data(body.utf8), attributes: [:])
        }
        let loop = WorkerLoop(
            bus: bus, handler: ScriptedHandler(),
            options: WorkerOptions(queue: Topology.recognizeQueue, batchSize: 10),
            logger: Logger(label: "test"))
        #expect(try await loop.runOnce(wait: 0) == 3)
        #expect(
            loop.counts
                == {
                    var c = WorkerCounts()
                    c.completed = 1
                    c.retried = 1
                    c.deadLettered = 1
                    return c
                }())
        #expect(try bus.stats(of: Topology.recognizeQueue).visible == 1)  // the retried one
        #expect(try bus.stats(of: Topology.recognizeDeadLetters).visible == 1)
        #expect(try bus.stats(of: Topology.archiveQueue(of: Topology.imageStoredTopic)).visible == 3)
    }

    @Test("on shutdown the loop drains and returns")
    func shutdownDrains() async throws {
        let bus = try Self.bus()
        try bus.publish(topic: Topology.imageStoredTopic, body: Data("ok".utf8), attributes: [:])
        let loop = WorkerLoop(
            bus: bus, handler: ScriptedHandler(),
            options: WorkerOptions(queue: Topology.recognizeQueue, pollWait: 0.05, drainTimeout: 10),
            logger: Logger(label: "test"))
        let shutdown = ShutdownSignal()
        let run = Task { await loop.run(until: shutdown) }
        while loop.counts.completed < 1 { try await Task.sleep(for: .milliseconds(20)) }
        shutdown.trigger()
        #expect(await run.value == .drained)
        #expect(try bus.stats(of: Topology.recognizeQueue).visible == 0)
    }

    @Test("messages round-trip through the shared JSON coding, dates included")
    func messageCodingRoundTrips() throws {
        let stored = ImageStored(
            imageID: "ab", name: "cat", sourceURL: "http://x/cat.jpg", storedPath: "/tmp/ab.jpg",
            byteSize: 3, contentType: "image/jpeg", width: 1, height: 2,
            fetchedAt: Date(timeIntervalSince1970: 1_795_000_000.125))
        let data = try MessageCoding.encoder().encode(stored)
        #expect(try MessageCoding.decoder().decode(ImageStored.self, from: data) == stored)
    }
}
