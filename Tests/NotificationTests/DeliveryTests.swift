import Foundation
import MailSink
import Notification
import NotificationTestSupport
import NotificationXML
import PipelineModel
import TestSupport
import Testing
import WorkerRuntime

/// The notifier against a real mail sink on loopback (in this process).
struct DeliveryTests {
    @Test func deliversOnceAndStoresTheDocument() async throws {
        let dir = try TemporaryDirectory("notify-deliver")
        defer { dir.remove() }
        let sink = try await RunningSink.start(outbox: dir.url.appendingPathComponent("outbox"))
        defer { Task { await sink.sink.stop() } }
        let handler = try Fixtures.handler(url: sink.url)
        defer { handler.close() }

        let message = try Fixtures.message(id: "labeled-0001")
        let outcomes = await handler.handle([message], logger: Fixtures.quietLogger)
        #expect(outcomes == [.completed])
        #expect(sink.storedFiles() == ["labeled-0001.xml"])
        let stored = try Data(contentsOf: sink.outbox.appendingPathComponent("labeled-0001.xml"))
        let (_, value) = try JSONXMLMapping.json(fromXML: stored)
        guard case .object(let document) = value else {
            Issue.record("not an object")
            return
        }
        #expect(document["id"] == .string("labeled-0001"))
        #expect(document["subject"] == .string("Labels for tabby.jpg: tabby cat, tiger cat"))
    }

    @Test func connectionsAreReused() async throws {
        let dir = try TemporaryDirectory("notify-reuse")
        defer { dir.remove() }
        let sink = try await RunningSink.start(outbox: dir.url)
        defer { Task { await sink.sink.stop() } }
        let handler = try Fixtures.handler(url: sink.url, maxInFlight: 1)
        defer { handler.close() }
        for index in 0..<10 {
            #expect(await handler.deliver(try Fixtures.message(id: "reuse-\(index)"), logger: Fixtures.quietLogger) == .completed)
        }
        #expect(handler.statistics.connectionsOpened == 1)
        #expect(sink.storedFiles().count == 10)
    }

    @Test func serviceUnavailableTwiceThenDeliveredOnce() async throws {
        let dir = try TemporaryDirectory("notify-503")
        defer { dir.remove() }
        let sink = try await RunningSink.start(outbox: dir.url, faults: FaultSettings(fail: 2, status: 503))
        defer { Task { await sink.sink.stop() } }
        let handler = try Fixtures.handler(url: sink.url, policy: Fixtures.fastPolicy(attempts: 5))
        defer { handler.close() }

        let outcome = await handler.deliver(try Fixtures.message(id: "m-503"), logger: Fixtures.quietLogger)
        #expect(outcome == .completed)
        let stats = await sink.sink.stats
        #expect(stats.failedOnPurpose == 2)
        #expect(stats.accepted == 1)
        #expect(handler.statistics.attempts == 3)
        #expect(handler.statistics.transientFailures == 2)
        #expect(sink.storedFiles() == ["m-503.xml"])
    }

    @Test func persistentFailureGoesBackToTheQueue() async throws {
        let dir = try TemporaryDirectory("notify-500")
        defer { dir.remove() }
        let sink = try await RunningSink.start(outbox: dir.url, faults: FaultSettings(fail: 100, status: 500))
        defer { Task { await sink.sink.stop() } }
        let handler = try Fixtures.handler(url: sink.url, policy: Fixtures.fastPolicy(attempts: 3))
        defer { handler.close() }

        let outcome = await handler.deliver(try Fixtures.message(id: "m-500"), logger: Fixtures.quietLogger)
        guard case .retry(let delay, let reason) = outcome else {
            Issue.record("expected retry, got \(outcome)")
            return
        }
        #expect(delay > 0)
        #expect(reason.contains("500"))
        #expect(handler.statistics.attempts == 3)
        #expect(handler.statistics.handedBack == 1)
        #expect(sink.storedFiles().isEmpty)
    }

    @Test func retryAfterIsHonoured() async throws {
        let dir = try TemporaryDirectory("notify-429")
        defer { dir.remove() }
        let sink = try await RunningSink.start(outbox: dir.url, faults: FaultSettings(fail: 1, status: 429, retryAfter: 600))
        defer { Task { await sink.sink.stop() } }
        let handler = try Fixtures.handler(url: sink.url)
        defer { handler.close() }

        // A long Retry-After is not waited out in-process: the queue gets the message back with that delay.
        let outcome = await handler.deliver(try Fixtures.message(id: "m-429"), logger: Fixtures.quietLogger)
        guard case .retry(let delay, let reason) = outcome else {
            Issue.record("expected retry, got \(outcome)")
            return
        }
        #expect(delay == 600)
        #expect(reason.contains("429"))

        // A short one is waited out, then the next try succeeds.
        await sink.sink.setFaults(FaultSettings(fail: 1, status: 429, retryAfter: 1))
        #expect(await handler.deliver(try Fixtures.message(id: "m-429"), logger: Fixtures.quietLogger) == .completed)
        #expect(sink.storedFiles() == ["m-429.xml"])
    }

    @Test func clientErrorIsADeadLetterWithStatusAndSnippet() async throws {
        let dir = try TemporaryDirectory("notify-400")
        defer { dir.remove() }
        let sink = try await RunningSink.start(outbox: dir.url)
        defer { Task { await sink.sink.stop() } }
        // Skip the notifier's own validation so the gateway's XSD check answers 400.
        let handler = try Fixtures.handler(url: sink.url, validate: false)
        defer { handler.close() }

        let bad = Fixtures.labeled(labels: [DetectedLabel(name: "cat", confidence: 250, parents: [])])
        let outcome = await handler.deliver(try Fixtures.message(bad, id: "m-400"), logger: Fixtures.quietLogger)
        guard case .deadLetter(let reason) = outcome else {
            Issue.record("expected dead letter, got \(outcome)")
            return
        }
        #expect(reason.contains("400"))
        #expect(reason.contains("confidence"), "the gateway's explanation is in the reason: \(reason)")
        #expect(handler.statistics.attempts == 1)

        // Other deliberate 4xx answers are permanent too; 408 is not.
        await sink.sink.setFaults(FaultSettings(fail: 1, status: 403))
        guard case .deadLetter(let forbidden) = await handler.deliver(try Fixtures.message(id: "m-403"), logger: Fixtures.quietLogger) else {
            Issue.record("403 should be permanent")
            return
        }
        #expect(forbidden.contains("403"))
        await sink.sink.setFaults(FaultSettings(fail: 1, status: 408))
        #expect(await handler.deliver(try Fixtures.message(id: "m-408"), logger: Fixtures.quietLogger) == .completed)
        #expect(sink.storedFiles() == ["m-408.xml"])
    }

    @Test func malformedBodyIsADeadLetterWithoutAnyRequest() async throws {
        let handler = try Fixtures.handler(url: "http://127.0.0.1:9/messages")
        defer { handler.close() }
        let cases = [Data("not json".utf8), Data("{\"imageID\": 1}".utf8), Data()]
        for body in cases {
            let message = LocalEvent.message(body: body, topic: Topology.imageLabeledTopic, queue: Topology.notifyQueue)
            guard case .deadLetter(let reason) = await handler.deliver(message, logger: Fixtures.quietLogger) else {
                Issue.record("malformed body should be dead-lettered")
                continue
            }
            #expect(reason.contains(message.message.id))
        }
        var future = Fixtures.labeled()
        future.schemaVersion = 99
        guard case .deadLetter(let reason) = await handler.deliver(try Fixtures.message(future), logger: Fixtures.quietLogger) else {
            Issue.record("future schema should be dead-lettered")
            return
        }
        #expect(reason.contains("99"))
        #expect(handler.statistics.attempts == 0)
    }

    @Test func duplicateIdempotencyKeyIsStoredOnce() async throws {
        let dir = try TemporaryDirectory("notify-dup")
        defer { dir.remove() }
        let outbox = dir.url.appendingPathComponent("outbox")
        var sink = try await RunningSink.start(outbox: outbox)
        let handler = try Fixtures.handler(url: sink.url)
        defer { handler.close() }

        let message = try Fixtures.message(id: "labeled-dup")
        #expect(await handler.deliver(message, logger: Fixtures.quietLogger) == .completed)
        #expect(await handler.deliver(message, logger: Fixtures.quietLogger) == .completed)
        #expect(await sink.sink.stats.duplicates == 1)
        #expect(await sink.sink.stats.accepted == 1)

        // The keys are files: a restarted sink still knows them.
        await sink.sink.stop()
        sink = try await RunningSink.start(outbox: outbox)
        let again = try Fixtures.handler(url: sink.url)
        defer { again.close() }
        #expect(await again.deliver(message, logger: Fixtures.quietLogger) == .completed)
        #expect(await sink.sink.stats.duplicates == 1)
        #expect(await sink.sink.stats.accepted == 0)
        #expect(sink.storedFiles() == ["labeled-dup.xml"])
        await sink.sink.stop()
    }

    @Test func concurrentDuplicatesAreStoredOnce() async throws {
        let dir = try TemporaryDirectory("notify-race")
        defer { dir.remove() }
        let sink = try await RunningSink.start(outbox: dir.url, faults: FaultSettings(delayMs: 50))
        defer { Task { await sink.sink.stop() } }
        let handler = try Fixtures.handler(url: sink.url, maxInFlight: 8)
        defer { handler.close() }
        let message = try Fixtures.message(id: "labeled-race")
        let outcomes = await handler.handle(Array(repeating: message, count: 8), logger: Fixtures.quietLogger)
        #expect(outcomes == Array(repeating: .completed, count: 8))
        #expect(sink.storedFiles() == ["labeled-race.xml"])
        let stats = await sink.sink.stats
        #expect(stats.accepted == 1)
        #expect(stats.duplicates == 7)
    }

    @Test func gatewayDownThenBackIsDeliveredOnce() async throws {
        let dir = try TemporaryDirectory("notify-down")
        defer { dir.remove() }
        let outbox = dir.url.appendingPathComponent("outbox")
        // Learn a free port, then close it: the gateway is down.
        let probe = try await RunningSink.start(outbox: outbox)
        let port = probe.port
        await probe.sink.stop()

        let handler = try Fixtures.handler(
            url: "http://127.0.0.1:\(port)/messages",
            policy: DeliveryPolicy(
                attempts: 10_000, initialBackoff: 0.02, maxBackoff: 0.1,
                connectTimeout: 2, timeout: 10))
        defer { handler.close() }
        let message = try Fixtures.message(id: "labeled-down")
        let delivery = Task { await handler.deliver(message, logger: Fixtures.quietLogger) }
        // Wait until the notifier has seen the gateway fail a few times.
        for _ in 0..<6000 where handler.statistics.transientFailures < 3 {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(handler.statistics.transientFailures >= 3)
        let sink = try await RunningSink.start(outbox: outbox, port: port)
        defer { Task { await sink.sink.stop() } }
        let outcome = await delivery.value
        #expect(outcome == .completed)
        #expect(sink.storedFiles() == ["labeled-down.xml"])
        #expect(await sink.sink.stats.accepted == 1)
    }

    @Test func inFlightLimitHoldsAcrossConcurrentCallers() async throws {
        let dir = try TemporaryDirectory("notify-limit")
        defer { dir.remove() }
        let sink = try await RunningSink.start(outbox: dir.url, faults: FaultSettings(delayMs: 100))
        defer { Task { await sink.sink.stop() } }
        let handler = try Fixtures.handler(url: sink.url, maxInFlight: 2)
        defer { handler.close() }
        // Four "lanes" calling the same handler at once, as WorkerLoop does.
        await withTaskGroup(of: Void.self) { group in
            for lane in 0..<4 {
                group.addTask {
                    let batch = (0..<3).compactMap { try? Fixtures.message(id: "lane\(lane)-\($0)") }
                    _ = await handler.handle(batch, logger: Fixtures.quietLogger)
                }
            }
        }
        let stats = await sink.sink.stats
        #expect(stats.accepted == 12)
        #expect(stats.peakInFlight <= 2)
        #expect(sink.storedFiles().count == 12)
    }

    @Test func authorizationIsSentButNeverLogged() async throws {
        let dir = try TemporaryDirectory("notify-auth")
        defer { dir.remove() }
        let sink = try await RunningSink.start(outbox: dir.url, faults: FaultSettings(fail: 1, status: 503))
        defer { Task { await sink.sink.stop() } }
        let secret = "Bearer s3cr3t-\(UUID().uuidString)"
        let handler = try Fixtures.handler(url: sink.url, authorization: secret)
        defer { handler.close() }
        let logs = CapturedLogs()
        #expect(await handler.deliver(try Fixtures.message(id: "m-auth"), logger: logs.logger) == .completed)
        #expect(!logs.text.isEmpty)
        #expect(!logs.text.contains("s3cr3t"))
    }
}
