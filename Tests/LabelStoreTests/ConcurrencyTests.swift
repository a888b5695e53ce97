import Foundation
import GRDB
import PipelineModel
import TestSupport
import Testing

@testable import LabelStore

/// Several writers at once (threads with their own connections, and separate processes), and
/// readers while they write: what WAL mode and the busy timeout are for.
@Suite struct ConcurrencyTests {
    @Test func writersOnSeveralThreadsAndConnectionsLoseNothing() throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        let threads = 4
        let perThread = 40
        let failures = Failures()
        let group = DispatchGroup()
        for thread in 0..<threads {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                do {
                    // Each thread opens its own LabelDatabase, like a separate worker process would.
                    let store = try LabelDatabase(home: fixture.home, logger: StoreFixture.logger)
                    for n in 0..<perThread {
                        let id = StoreFixture.id(String(format: "%02x", thread), n)
                        let labels = [n % 2 == 0 ? Sample.tabby : Sample.beagle, Sample.sofa]
                        try store.saveRecognition(
                            image: StoreFixture.image(id), labels: labels, model: StoreFixture.model,
                            recognizedAt: StoreFixture.base.addingTimeInterval(Double(n)))
                        // Redelivery while others write: still no duplicates.
                        if n % 10 == 0 {
                            try store.saveRecognition(
                                image: StoreFixture.image(id), labels: labels, model: StoreFixture.model,
                                recognizedAt: StoreFixture.base.addingTimeInterval(Double(n)))
                        }
                    }
                } catch { failures.add("\(error)") }
            }
        }
        // Read while they write.
        let reader = try waitForFile(fixture.home.labelDatabase)
        var reads = 0
        while group.wait(timeout: .now() + .milliseconds(5)) == .timedOut {
            _ = try reader.images(matching: ImageQuery(labels: ["animal"], limit: 10))
            reads += 1
        }
        #expect(failures.all.isEmpty)
        let all = try fixture.store.images(matching: ImageQuery(limit: 10_000))
        #expect(all.count == threads * perThread)
        let counts = Dictionary(uniqueKeysWithValues: try fixture.store.labelCounts(LabelCountQuery()).map { ($0.term, $0.imageCount) })
        #expect(counts["studio couch"] == threads * perThread)
        #expect(counts["animal"] == threads * perThread)
        #expect(try fixture.store.integrityCheck() == ["ok"])
    }

    @Test func readOnlyOpenWorksWhileAWriteTransactionIsOpen() throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        try fixture.save(StoreFixture.id("d0"), minutes: 1, labels: [Sample.tabby])
        let inTransaction = DispatchSemaphore(value: 0)
        let readerDone = DispatchSemaphore(value: 0)
        let failures = Failures()
        let writerFinished = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            defer { writerFinished.signal() }
            do {
                try fixture.sqlite.pool.writeWithoutTransaction { db in
                    try db.inTransaction(.immediate) {
                        try LabelDatabase.save(
                            RecognitionRecord(
                                image: StoreFixture.image(StoreFixture.id("d1")), labels: [Sample.beagle],
                                model: StoreFixture.model, recognizedAt: StoreFixture.base), in: db)
                        inTransaction.signal()
                        _ = readerDone.wait(timeout: .now() + 120)
                        return .commit
                    }
                }
            } catch { failures.add("\(error)") }
        }
        #expect(inTransaction.wait(timeout: .now() + 120) == .success)
        let reader = try LabelDatabase.openReadOnly(home: fixture.home, logger: StoreFixture.logger)
        #expect(try reader.images(matching: ImageQuery()).map(\.id) == [StoreFixture.id("d0")], "uncommitted rows are invisible")
        #expect(try reader.image(idOrPrefix: "d0")?.labels == [Sample.tabby])
        readerDone.signal()
        #expect(writerFinished.wait(timeout: .now() + 120) == .success)
        #expect(failures.all.isEmpty)
        #expect(Set(try reader.images(matching: ImageQuery()).map(\.id)) == [StoreFixture.id("d0"), StoreFixture.id("d1")])
    }

    @Test func writerProcessesAtOnceWithAReader() throws {
        let executable = try BuiltExecutable.url("pipeline-bench")
        let directory = try TemporaryDirectory("labelstore-procs")
        defer { directory.remove() }
        let database = directory.url.appendingPathComponent("labels.sqlite")
        let perProcess = 150
        var processes: [Process] = []
        for seed in 1...3 {
            processes.append(
                try ProcessRunner.start(
                    executable,
                    [
                        "list-images", "--database", database.path, "--images", "\(perProcess)", "--seed", "\(seed)", "--append", "--fill-only",
                        "--taxonomy", BuiltExecutable.projectRoot().appendingPathComponent("Models/imagenet-taxonomy.json").path,
                    ], logFile: directory.url.appendingPathComponent("writer-\(seed).log")))
        }
        // Read (including the schema check on open) while they write.
        var readerErrors: [String] = []
        var readerOpened = false
        while processes.contains(where: \.isRunning) {
            do {
                let reader = try LabelDatabase.openReadOnly(path: database, logger: StoreFixture.logger)
                _ = try reader.images(matching: ImageQuery(limit: 20))
                readerOpened = true
            } catch {
                // Until the first writer has created the schema, opening fails by design.
                if readerOpened { readerErrors.append("\(error)") }
            }
            usleep(20_000)
        }
        for (index, process) in processes.enumerated() {
            process.waitUntilExit()
            let log = (try? String(contentsOf: directory.url.appendingPathComponent("writer-\(index + 1).log"), encoding: .utf8)) ?? ""
            #expect(process.terminationStatus == 0, "writer \(index + 1): \(log)")
        }
        #expect(readerErrors.isEmpty)
        let store = try LabelDatabase.openReadOnly(path: database, logger: StoreFixture.logger)
        #expect(try store.images(matching: ImageQuery(limit: 10_000)).count == 3 * perProcess)
        #expect(try store.integrityCheck() == ["ok"])
    }

    /// Opens the database read-only once a writer has created and migrated it.
    private func waitForFile(_ url: URL) throws -> LabelDatabase {
        let deadline = Date().addingTimeInterval(120)
        while true {
            do { return try LabelDatabase.openReadOnly(path: url, logger: StoreFixture.logger) } catch {
                if Date() > deadline { throw error }
                usleep(10_000)
            }
        }
    }
}

/// Errors collected from background threads.
final class Failures: @unchecked Sendable {
    private let lock = NSLock()
    private var messages: [String] = []
    func add(_ message: String) { lock.withLock { messages.append(message) } }
    var all: [String] { lock.withLock { messages } }
}
