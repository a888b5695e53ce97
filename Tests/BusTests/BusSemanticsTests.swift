import Bus
import Foundation
import Testing

/// The queue semantics, checked on the file bus and the in-memory bus alike.
@Suite struct BusSemanticsTests {
    @Test(arguments: BusKind.allCases) func deliversInPublishOrder(kind: BusKind) async throws {
        let f = try BusFixture(kind)
        try f.queue("q")
        var published: [String] = []
        for i in 0..<5 {
            published.append(try f.bus.publish(topic: "t", body: Data(text: "m\(i)"), attributes: [:]).id)
            f.clock.advance(by: 0.001)
        }
        let received = try await f.receive("q")
        #expect(received.map(\.message.id) == published)
        #expect(received.map { String(decoding: $0.message.body, as: UTF8.self) } == ["m0", "m1", "m2", "m3", "m4"])
        #expect(received.allSatisfy { $0.receiveCount == 1 && $0.message.topic == "t" })
    }

    @Test(arguments: BusKind.allCases) func fansOutToSubscribedQueuesThroughFilters(kind: BusKind) async throws {
        let f = try BusFixture(kind)
        try f.queue("all")
        try f.queue("images", filter: AttributeFilter(["type": ["jpeg", "png"]]))
        try f.bus.createQueue("unsubscribed", configuration: QueueConfiguration())
        let jpeg = try f.bus.publish(topic: "t", body: Data(text: "a"), attributes: ["type": "jpeg"])
        let gif = try f.bus.publish(topic: "t", body: Data(text: "b"), attributes: ["type": "gif"])
        _ = try f.bus.publish(topic: "other", body: Data(text: "c"), attributes: ["type": "png"])
        #expect(Set(try await f.receive("all").map(\.message.id)) == [jpeg.id, gif.id])
        let images = try await f.receive("images")
        #expect(images.map(\.message.id) == [jpeg.id])
        #expect(images.first?.message.attributes == ["type": "jpeg"])
        #expect(try await f.receive("unsubscribed").isEmpty)
    }

    @Test(arguments: BusKind.allCases) func unackedMessageReappearsAfterVisibilityTimeout(kind: BusKind) async throws {
        let f = try BusFixture(kind)
        try f.queue("q", QueueConfiguration(visibilityTimeout: 30))
        let id = try f.bus.publish(topic: "t", body: Data(text: "x"), attributes: [:]).id
        let first = try await f.receive("q")
        #expect(first.map(\.receiveCount) == [1])
        #expect(try await f.receive("q").isEmpty)
        #expect(try f.bus.stats(of: "q") == QueueStats(queue: "q", visible: 0, inFlight: 1, delayed: 0))
        f.clock.advance(by: 29)
        #expect(try await f.receive("q").isEmpty)
        f.clock.advance(by: 2)
        let second = try await f.receive("q")
        #expect(second.map(\.message.id) == [id])
        #expect(second.map(\.receiveCount) == [2])
        // The first claim is stale now: its ack must fail loudly, the new one must work.
        let firstClaim = try #require(first.first)
        #expect(throws: BusError.self) { try f.bus.delete(firstClaim) }
        try f.bus.delete(try #require(second.first))
        #expect(try f.bus.stats(of: "q") == QueueStats(queue: "q", visible: 0, inFlight: 0, delayed: 0))
    }

    @Test(arguments: BusKind.allCases) func perReceiveVisibilityOverridesTheQueueDefault(kind: BusKind) async throws {
        let f = try BusFixture(kind)
        try f.queue("q", QueueConfiguration(visibilityTimeout: 600))
        try f.bus.publish(topic: "t", body: Data(text: "x"), attributes: [:])
        _ = try await f.receive("q", visibility: 5)
        f.clock.advance(by: 6)
        #expect(try await f.receive("q").map(\.receiveCount) == [2])
    }

    @Test(arguments: BusKind.allCases) func pastMaxReceiveCountGoesToDeadLetterQueueWithReason(kind: BusKind) async throws {
        let f = try BusFixture(kind)
        try f.queue("q", QueueConfiguration(visibilityTimeout: 10, maxReceiveCount: 2, deadLetterQueue: "q.dead"))
        let id = try f.bus.publish(topic: "t", body: Data(text: "poison"), attributes: [:]).id
        #expect(try await f.receive("q").map(\.receiveCount) == [1])
        f.clock.advance(by: 11)
        #expect(try await f.receive("q").map(\.receiveCount) == [2])
        f.clock.advance(by: 11)
        #expect(try await f.receive("q").isEmpty)
        let dead = try f.waiting(in: "q.dead")
        #expect(dead.map(\.message.id) == [id])
        let record = try #require(dead.first?.deadLetters.last)
        #expect(record.queue == "q")
        #expect(record.receiveCount == 2)
        #expect(record.reason.contains("maxReceiveCount 2"))
        #expect(try f.bus.stats(of: "q") == QueueStats(queue: "q", visible: 0, inFlight: 0, delayed: 0))
    }

    @Test(arguments: BusKind.allCases) func explicitDeadLetterRecordsReasonAndRedriveResetsCount(kind: BusKind) async throws {
        let f = try BusFixture(kind)
        try f.queue("q", QueueConfiguration(maxReceiveCount: 5, deadLetterQueue: "q.dead"))
        let id = try f.bus.publish(topic: "t", body: Data(text: "bad"), attributes: ["k": "v"]).id
        let claimed = try #require(try await f.receive("q").first)
        try f.bus.deadLetter(claimed, reason: "not an image")
        #expect(throws: BusError.self) { try f.bus.delete(claimed) }
        let dead = try f.waiting(in: "q.dead")
        #expect(dead.map(\.message.id) == [id])
        #expect(dead.first?.deadLetters.map(\.reason) == ["not an image"])
        #expect(try f.redrive("q.dead") == 1)
        #expect(try f.waiting(in: "q.dead").isEmpty)
        let again = try #require(try await f.receive("q").first)
        #expect(again.message.id == id)
        #expect(again.message.attributes == ["k": "v"])
        #expect(again.receiveCount == 1)
        // The history stays with the message, so a second dead-lettering shows both reasons.
        try f.bus.deadLetter(again, reason: "still bad")
        #expect(try f.waiting(in: "q.dead").first?.deadLetters.map(\.reason) == ["not an image", "still bad"])
    }

    @Test(arguments: BusKind.allCases) func releaseWithDelayHidesUntilDue(kind: BusKind) async throws {
        let f = try BusFixture(kind)
        try f.queue("q", QueueConfiguration(visibilityTimeout: 60))
        try f.bus.publish(topic: "t", body: Data(text: "x"), attributes: [:])
        let claimed = try #require(try await f.receive("q").first)
        try f.bus.release(claimed, delay: 10)
        #expect(try f.bus.stats(of: "q") == QueueStats(queue: "q", visible: 0, inFlight: 0, delayed: 1))
        #expect(try await f.receive("q").isEmpty)
        f.clock.advance(by: 11)
        let again = try await f.receive("q")
        #expect(again.map(\.receiveCount) == [2])
        try f.bus.release(try #require(again.first), delay: 0)
        #expect(try await f.receive("q").map(\.receiveCount) == [3])
    }

    @Test(arguments: BusKind.allCases) func releaseAtTheReceiveLimitDeadLetters(kind: BusKind) async throws {
        let f = try BusFixture(kind)
        try f.queue("q", QueueConfiguration(maxReceiveCount: 1, deadLetterQueue: "dlq"))
        try f.bus.publish(topic: "t", body: Data(text: "x"), attributes: [:])
        try f.bus.release(try #require(try await f.receive("q").first), delay: 5)
        #expect(try f.waiting(in: "dlq").count == 1)
        #expect(try f.bus.stats(of: "q") == QueueStats(queue: "q", visible: 0, inFlight: 0, delayed: 0))
    }

    @Test(arguments: BusKind.allCases) func delayedSendBecomesVisibleLater(kind: BusKind) async throws {
        let f = try BusFixture(kind)
        try f.bus.createQueue("q", configuration: QueueConfiguration())
        let message = BusMessage(id: "fixed-id", topic: "", attributes: [:], body: Data(text: "later"), publishedAt: f.clock.now)
        try f.bus.send(message, to: "q", delay: 30)
        #expect(try await f.receive("q").isEmpty)
        f.clock.advance(by: 31)
        #expect(try await f.receive("q").map(\.message) == [message])
    }

    @Test(arguments: BusKind.allCases) func expiredMessagesAreDeletedUnread(kind: BusKind) async throws {
        let f = try BusFixture(kind)
        try f.queue("short", QueueConfiguration(retention: 100))
        try f.queue("forever", QueueConfiguration(retention: nil))
        try f.bus.publish(topic: "t", body: Data(text: "x"), attributes: [:])
        f.clock.advance(by: 101)
        #expect(try f.bus.stats(of: "short").visible == 0)
        #expect(try await f.receive("short").isEmpty)
        #expect(try await f.receive("forever").count == 1)
    }

    @Test(arguments: BusKind.allCases) func batchReceiveTakesAtMostMax(kind: BusKind) async throws {
        let f = try BusFixture(kind)
        try f.queue("q")
        for i in 0..<25 { try f.bus.publish(topic: "t", body: Data(text: "\(i)"), attributes: [:]) }
        let first = try await f.receive("q", max: 10)
        let second = try await f.receive("q", max: 10)
        let third = try await f.receive("q", max: 10)
        #expect([first.count, second.count, third.count] as [Int] == [10, 10, 5])
        #expect(Set((first + second + third).map(\.message.id)).count == 25)
    }

    @Test(arguments: BusKind.allCases) func longPollWakesWhenAMessageArrives(kind: BusKind) async throws {
        let f = try BusFixture(kind)
        try f.queue("q")
        let bus = f.bus
        let waiting = Task { try await bus.receive(from: "q", maxMessages: 1, visibilityTimeout: nil, wait: 120) }
        try await Task.sleep(for: .milliseconds(300))
        let id = try bus.publish(topic: "t", body: Data(text: "wake"), attributes: [:]).id
        // A poll that did not wake would return empty after 120 s.
        #expect(try await waiting.value.map(\.message.id) == [id])
    }

    @Test(arguments: BusKind.allCases) func unknownQueueIsAClearError(kind: BusKind) async throws {
        let f = try BusFixture(kind)
        await #expect(throws: BusError.self) { try await f.receive("nope") }
        #expect(throws: BusError.self) { try f.bus.subscribe(queue: "nope", to: "t", filter: AttributeFilter()) }
        #expect(throws: BusError.self) { try f.bus.createQueue("../evil", configuration: QueueConfiguration()) }
    }
}
