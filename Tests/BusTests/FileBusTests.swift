import Bus
import Foundation
import TestSupport
import Testing

/// File-bus specifics: the on-disk layout, archive replay, repairs, several bus instances.
@Suite struct FileBusTests {
    @Test func archiveKeepsEveryMessageForReplay() async throws {
        let f = try BusFixture(.file)
        let bus = try #require(f.bus as? FileBus)
        try f.queue("work")
        try f.queue("archive.t", QueueConfiguration(maxReceiveCount: Int.max, retention: nil))
        var early: [String] = []
        for i in 0..<2 {
            early.append(try bus.publish(topic: "t", body: Data(text: "e\(i)"), attributes: [:]).id)
            f.clock.advance(by: 1)
        }
        f.clock.advance(by: 100)
        let cut = f.clock.now
        let late = try bus.publish(topic: "t", body: Data(text: "late"), attributes: ["a": "b"]).id
        for message in try await f.receive("work") { try bus.delete(message) }
        #expect(try bus.replay(topic: "t", to: "work") == 3)
        #expect(try await f.receive("work").map(\.message.id) == early + [late])
        try bus.createQueue("fixed", configuration: QueueConfiguration())
        #expect(try bus.replay(topic: "t", to: "fixed", since: cut) == 1)
        let replayed = try await f.receive("fixed")
        #expect(replayed.map(\.message.id) == [late])
        #expect(replayed.first?.message.attributes == ["a": "b"])
        #expect(try bus.stats(of: "archive.t").visible == 3)
    }

    @Test func batchPublishFansOutEveryMessageOnceAndLeavesNothingPending() async throws {
        let f = try BusFixture(.file)
        let bus = try #require(f.bus as? FileBus)
        try f.queue("a")
        try f.queue("b")
        let batch = (0..<3).map { OutgoingMessage(topic: "t", body: Data(text: "m\($0)"), attributes: ["n": "\($0)"], id: "id-\($0)") }
        let published = try bus.publish(batch)
        #expect(published.map(\.id) == ["id-0", "id-1", "id-2"])
        // Publishing the same batch again (a retried handler) adds nothing.
        try bus.publish(batch)
        for queue in ["a", "b"] {
            let received = try await f.receive(queue)
            #expect(received.map(\.message.id).sorted() == ["id-0", "id-1", "id-2"], "\(queue)")
            #expect(received.map { String(decoding: $0.message.body, as: UTF8.self) }.sorted() == ["m0", "m1", "m2"])
        }
        let pending = try FileManager.default.contentsOfDirectory(atPath: "\(bus.root.path)/topics/t/pending")
        let tmp = try FileManager.default.contentsOfDirectory(atPath: "\(bus.root.path)/topics/t/tmp")
        #expect(pending.isEmpty && tmp.isEmpty)
    }

    @Test func folderNamesShowTheState() async throws {
        let f = try BusFixture(.file)
        let bus = try #require(f.bus as? FileBus)
        try f.queue("q")
        try bus.publish(topic: "t", body: Data(text: "x"), attributes: [:], id: "my-id")
        let root = bus.root.path
        let ready = try FileManager.default.contentsOfDirectory(atPath: "\(root)/queues/q/ready")
        #expect(ready.count == 1 && ready[0].hasSuffix(".0.my-id"))
        let claimed = try #require(try await f.receive("q").first)
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(root)/queues/q/inflight") == [claimed.receipt])
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(root)/queues/q/ready").isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(root)/topics/t/pending").isEmpty)
    }

    @Test func twoBusInstancesNeverShareAClaim() async throws {
        let f = try BusFixture(.file)
        let first = try #require(f.bus as? FileBus)
        let second = try FileBus(root: first.root, clock: .manual(f.clock))
        try f.queue("q")
        var ids = Set<String>()
        for i in 0..<200 { ids.insert(try first.publish(topic: "t", body: Data(text: "\(i)"), attributes: [:]).id) }
        let received = try await withThrowingTaskGroup(of: [String].self) { group in
            for lane in 0..<4 {
                let bus = lane.isMultiple(of: 2) ? first : second
                group.addTask {
                    var mine: [String] = []
                    while true {
                        let batch = try await bus.receive(from: "q", maxMessages: 3, visibilityTimeout: 600, wait: 0)
                        if batch.isEmpty { return mine }
                        for message in batch {
                            try bus.delete(message)
                            mine.append(message.message.id)
                        }
                    }
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(received.count == 200)
        #expect(Set(received) == ids)
    }

    @Test func checkRepairsLeftoversOfCrashedWriters() async throws {
        let f = try BusFixture(.file)
        let bus = try #require(f.bus as? FileBus)
        try f.queue("q1")
        try f.queue("q2")
        let root = bus.root.path
        // What a publisher killed mid-write and one killed mid-fan-out leave behind.
        try Data("{\"trunc".utf8).write(to: URL(fileURLWithPath: "\(root)/topics/t/tmp/123.abc.half"))
        let id = try bus.publish(topic: "t", body: Data(text: "x"), attributes: [:]).id
        let readyName = try #require(try FileManager.default.contentsOfDirectory(atPath: "\(root)/queues/q1/ready").first)
        try FileManager.default.linkItem(atPath: "\(root)/queues/q1/ready/\(readyName)", toPath: "\(root)/topics/t/pending/\(readyName)")
        try FileManager.default.removeItem(atPath: "\(root)/queues/q2/ready/\(readyName)")
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: "\(root)/queues/q1/ready/0000000000000001.0.junk"))

        let before = try bus.check(repair: false, tmpAge: 0)
        #expect(!before.isClean)
        #expect(before.problems.count == 3)
        let repaired = try bus.check(repair: true, tmpAge: 0)
        #expect(repaired.repairs.count == 3)
        // The junk file now waits in quarantine for an operator: reported until removed.
        #expect(repaired.problems.count == 1)
        try FileManager.default.removeItem(atPath: "\(root)/quarantine")
        #expect(try bus.check(repair: false, tmpAge: 0).isClean)
        // The interrupted fan-out was completed exactly once per queue.
        #expect(try await f.receive("q1").map(\.message.id) == [id])
        #expect(try await f.receive("q2").map(\.message.id) == [id])
    }

    @Test func adminListsTopicsQueuesAndPeeksWithoutClaiming() async throws {
        let f = try BusFixture(.file)
        let bus = try #require(f.bus as? FileBus)
        try f.queue("q", filter: AttributeFilter(["k": ["v"]]), QueueConfiguration(deadLetterQueue: "q.dead"))
        try bus.publish(topic: "t", body: Data(text: "x"), attributes: ["k": "v"])
        #expect(try bus.topics().map(\.name) == ["t"])
        #expect(try bus.topics().first?.subscriptions == [SubscriptionInfo(queue: "q", filter: AttributeFilter(["k": ["v"]]))])
        #expect(bus.queues() == ["q", "q.dead"])
        #expect(try bus.peek("q", count: 5).count == 1)
        #expect(try bus.peek("q", count: 5).count == 1)
        let status = try bus.status(of: "q")
        #expect(status.stats.visible == 1)
        #expect(status.deadLetters == 0)
        #expect(try bus.purge("q") == 1)
        #expect(try bus.stats(of: "q").visible == 0)
    }

    @Test func purgeExpiredCountsFromWhenTheMessageEnteredTheQueue() async throws {
        let f = try BusFixture(.file)
        let bus = try #require(f.bus as? FileBus)
        try f.queue("q", QueueConfiguration(visibilityTimeout: 60, retention: 100))
        try bus.publish(topic: "t", body: Data(text: "old"), attributes: [:])
        f.clock.advance(by: 90)
        // Released messages get a fresh visible-at time in their name, but retention still counts
        // from when they entered the queue.
        try bus.release(try #require(try await f.receive("q").first), delay: 0)
        try bus.publish(topic: "t", body: Data(text: "young"), attributes: [:])
        f.clock.advance(by: 20)
        #expect(try bus.purgeExpired("q") == 1)
        #expect(try await f.receive("q").map { String(decoding: $0.message.body, as: UTF8.self) } == ["young"])
    }

    @Test func redriveToAnotherQueue() async throws {
        let f = try BusFixture(.file)
        let bus = try #require(f.bus as? FileBus)
        try f.queue("q", QueueConfiguration(deadLetterQueue: "q.dead"))
        try bus.createQueue("fixed", configuration: QueueConfiguration())
        let id = try bus.publish(topic: "t", body: Data(text: "x"), attributes: [:]).id
        try bus.deadLetter(try #require(try await f.receive("q").first), reason: "bug 17")
        #expect(try bus.status(of: "q").deadLetters == 1)
        #expect(try bus.redrive(from: "q.dead", to: "fixed") == 1)
        #expect(try await f.receive("fixed").map(\.message.id) == [id])
        #expect(try await f.receive("q").isEmpty)
    }
}
