import Bus
import Foundation
import Testing

/// The administration protocol (what bus-admin calls), checked on the file bus and the
/// in-memory bus alike.
@Suite struct BusAdministrationTests {
    @Test(arguments: BusKind.allCases) func listsTopicsQueuesAndStatus(kind: BusKind) async throws {
        let f = try BusFixture(kind)
        try f.queue("q", QueueConfiguration(visibilityTimeout: 30, maxReceiveCount: 3, deadLetterQueue: "q.dead"))
        try f.bus.publish(topic: "t", body: Data(text: "a"), attributes: [:])
        try f.bus.publish(topic: "t", body: Data(text: "b"), attributes: [:])
        f.clock.advance(by: 10)
        _ = try await f.bus.receive(from: "q", maxMessages: 1, visibilityTimeout: nil, wait: 0)
        let topic = try #require(try f.bus.topics().first { $0.name == "t" })
        #expect(topic.subscriptions.map(\.queue) == ["q"])
        #expect(try f.bus.queues().contains("q"))
        #expect(try f.bus.queues().contains("q.dead"))
        let status = try f.bus.status(of: "q")
        #expect(status.stats.visible == 1)
        #expect(status.stats.inFlight == 1)
        #expect(status.deadLetters == 0)
        #expect(status.configuration.maxReceiveCount == 3)
        #expect((status.oldestVisibleAge ?? 0) >= 9)
    }

    @Test(arguments: BusKind.allCases) func peekShowsWithoutClaiming(kind: BusKind) async throws {
        let f = try BusFixture(kind)
        try f.queue("q")
        let first = try f.bus.publish(topic: "t", body: Data(text: "a"), attributes: [:])
        f.clock.advance(by: 0.001)
        let second = try f.bus.publish(topic: "t", body: Data(text: "b"), attributes: [:])
        _ = try await f.bus.receive(from: "q", maxMessages: 1, visibilityTimeout: nil, wait: 0)
        let ready = try f.bus.peek("q", count: 10)
        #expect(ready.map(\.message.id) == [second.id])
        #expect(ready.map(\.state) == [.ready])
        let all = try f.bus.peek("q", count: 10, all: true)
        #expect(all.map(\.message.id) == [second.id, first.id])
        #expect(all.map(\.state) == [.ready, .inflight])
        #expect(try f.bus.peek("q", count: 10).count == 1, "peeking must not claim")
    }

    @Test(arguments: BusKind.allCases) func redriveReplayAndPurge(kind: BusKind) async throws {
        let f = try BusFixture(kind)
        try f.queue("q", QueueConfiguration(visibilityTimeout: 30, maxReceiveCount: 5, deadLetterQueue: "q.dead"))
        try f.queue("archive.t", QueueConfiguration(maxReceiveCount: Int.max, retention: nil))
        try f.bus.createQueue("replayed", configuration: QueueConfiguration())
        let message = try f.bus.publish(topic: "t", body: Data(text: "a"), attributes: [:])
        let received = try #require(try await f.bus.receive(from: "q", maxMessages: 1, visibilityTimeout: nil, wait: 0).first)
        try f.bus.deadLetter(received, reason: "broken")
        #expect(try f.bus.status(of: "q").deadLetters == 1)
        #expect(try f.bus.redrive(from: "q.dead") == 1)
        #expect(try f.bus.peek("q", count: 10).map(\.message.id) == [message.id])
        #expect(try f.bus.replay(topic: "t", to: "replayed", since: nil) == 1)
        #expect(try f.bus.replay(topic: "t", to: "replayed", since: message.publishedAt.addingTimeInterval(1)) == 0)
        #expect(try f.bus.peek("replayed", count: 10).map(\.message.id) == [message.id])
        #expect(try f.bus.peek("archive.t", count: 10).count == 1, "the archive keeps its copy")
        #expect(try f.bus.purge("q") == 1)
        #expect(try f.bus.stats(of: "q") == QueueStats(queue: "q", visible: 0, inFlight: 0, delayed: 0))
        #expect(try f.bus.check(repair: false, tmpAge: 600).isClean)
        #expect(throws: BusError.self) { try f.bus.purge("missing") }
    }
}
