import Foundation
import GRDB
import PipelineModel
import TestSupport
import Testing

@testable import LabelStore

@Suite struct LabelDatabaseTests {
    @Test(arguments: StoreKind.allCases) func savedRecognitionReadsBackWithLabelsAndParents(kind: StoreKind) throws {
        let fixture = try StoreFixture(kind)
        defer { fixture.directory.remove() }
        let id = StoreFixture.id("ab")
        let saved = try fixture.save(id, name: "kitty.jpg", minutes: 1, labels: [Sample.tabby, Sample.tiger])

        let detail = try #require(try fixture.store.image(idOrPrefix: id))
        #expect(detail.id == id)
        #expect(detail.name == "kitty.jpg")
        #expect(detail.sourceURL == saved.image.sourceURL)
        #expect(detail.storedPath == saved.image.storedPath)
        #expect(detail.labels == [Sample.tabby, Sample.tiger])
        #expect(detail.modelName == "efficientnet-lite0")
        #expect(detail.modelVersion == "test-1")
        #expect(abs(detail.recognizedAt.timeIntervalSince(saved.recognizedAt)) < 0.001)
        #expect(abs(detail.fetchedAt.timeIntervalSince(saved.image.fetchedAt)) < 0.001)
        #expect(detail.notifiedAt == nil)
    }

    @Test(arguments: StoreKind.allCases) func redeliveryLeavesTheSameRows(kind: StoreKind) throws {
        let fixture = try StoreFixture(kind)
        defer { fixture.directory.remove() }
        try fixture.save(StoreFixture.id("01"), minutes: 1, labels: [Sample.tabby, Sample.tiger])
        try fixture.save(StoreFixture.id("02"), minutes: 2, labels: [Sample.beagle])
        let before = try fixture.dump()
        try fixture.save(StoreFixture.id("01"), minutes: 1, labels: [Sample.tabby, Sample.tiger])
        try fixture.save(StoreFixture.id("01"), minutes: 1, labels: [Sample.tabby, Sample.tiger])
        #expect(try fixture.dump() == before)
        #expect(try fixture.store.integrityCheck() == ["ok"])
    }

    @Test(arguments: StoreKind.allCases) func reRecognitionReplacesLabelsAndKeepsCountsRight(kind: StoreKind) throws {
        let fixture = try StoreFixture(kind)
        defer { fixture.directory.remove() }
        let id = StoreFixture.id("03")
        try fixture.save(id, minutes: 1, labels: [Sample.tabby])
        try fixture.store.markNotified(imageID: id, at: StoreFixture.base.addingTimeInterval(120))
        try fixture.save(id, minutes: 5, labels: [Sample.beagle, Sample.sofa])

        let detail = try #require(try fixture.store.image(idOrPrefix: id))
        #expect(detail.labels == [Sample.beagle, Sample.sofa])
        #expect(detail.notifiedAt != nil, "a re-recognition must not forget the notification")
        let counts = Dictionary(uniqueKeysWithValues: try fixture.store.labelCounts(LabelCountQuery()).map { ($0.term, $0.imageCount) })
        #expect(counts["cat"] == nil)
        #expect(counts["tabby cat"] == nil)
        #expect(counts["beagle"] == 1)
        #expect(counts["animal"] == 1)
        #expect(try fixture.store.integrityCheck() == ["ok"])
    }

    @Test(arguments: StoreKind.allCases) func markNotifiedSetsTimeAndIgnoresUnknownImages(kind: StoreKind) throws {
        let fixture = try StoreFixture(kind)
        defer { fixture.directory.remove() }
        let id = StoreFixture.id("04")
        try fixture.save(id, minutes: 1, labels: [Sample.teapot])
        let at = StoreFixture.base.addingTimeInterval(90)
        try fixture.store.markNotified(imageID: id, at: at)
        try fixture.store.markNotified(imageID: StoreFixture.id("ff"), at: at)
        let notified = try #require(try fixture.store.image(idOrPrefix: id)?.notifiedAt)
        #expect(abs(notified.timeIntervalSince(at)) < 0.001)
    }

    @Test(arguments: StoreKind.allCases) func batchSaveIsOneTransaction(kind: StoreKind) throws {
        let fixture = try StoreFixture(kind)
        defer { fixture.directory.remove() }
        let good = RecognitionRecord(
            image: StoreFixture.image(StoreFixture.id("05")), labels: [Sample.tabby],
            model: StoreFixture.model, recognizedAt: StoreFixture.base)
        var bad = good
        bad.image.imageID = StoreFixture.id("06")
        bad.labels = [DetectedLabel(name: "broken", confidence: 150, parents: [])]
        #expect(throws: LabelStoreError.self) { try fixture.store.saveRecognitions([good, bad]) }
        #expect(try fixture.store.images(matching: ImageQuery()).isEmpty)
        try fixture.store.saveRecognitions([good])
        #expect(try fixture.store.images(matching: ImageQuery()).count == 1)
    }

    @Test(arguments: StoreKind.allCases) func showFindsByPrefixAndReportsAmbiguity(kind: StoreKind) throws {
        let fixture = try StoreFixture(kind)
        defer { fixture.directory.remove() }
        try fixture.save(StoreFixture.id("abc1"), name: "one.jpg", minutes: 1, labels: [Sample.tabby])
        try fixture.save(StoreFixture.id("abc2"), name: "two.jpg", minutes: 2, labels: [Sample.beagle])

        #expect(try fixture.store.image(idOrPrefix: "abc1")?.name == "one.jpg")
        #expect(try fixture.store.image(idOrPrefix: "ABC2")?.name == "two.jpg")
        #expect(try fixture.store.image(idOrPrefix: "abd") == nil)
        do {
            _ = try fixture.store.image(idOrPrefix: "abc")
            Issue.record("an ambiguous prefix must throw")
        } catch let error as LabelStoreError {
            guard case .ambiguousPrefix(_, let candidates) = error else {
                Issue.record("wrong error \(error)")
                return
            }
            #expect(candidates.count == 2)
            #expect(error.description.contains(StoreFixture.id("abc1")))
            #expect(error.description.contains("two.jpg"))
        }
        #expect(throws: LabelStoreError.invalidIDPrefix("xyz")) { try fixture.store.image(idOrPrefix: "xyz") }
    }

    @Test(arguments: StoreKind.allCases) func labelCountsCountImagesPerTermMostFrequentFirst(kind: StoreKind) throws {
        let fixture = try StoreFixture(kind)
        defer { fixture.directory.remove() }
        // tabby and tiger share "cat" and "animal": the image counts once per term.
        try fixture.save(StoreFixture.id("10"), minutes: 1, labels: [Sample.tabby, Sample.tiger])
        try fixture.save(StoreFixture.id("11"), minutes: 2, labels: [Sample.beagle, Sample.sofa])
        try fixture.save(StoreFixture.id("12"), minutes: 3, labels: [Sample.teapot])

        let counts = try fixture.store.labelCounts(LabelCountQuery())
        #expect(counts.first == LabelCount(term: "animal", imageCount: 2))
        #expect(counts.first { $0.term == "object" }?.imageCount == 2)
        #expect(counts.first { $0.term == "cat" }?.imageCount == 1)
        #expect(counts.map(\.imageCount) == counts.map(\.imageCount).sorted(by: >))
        #expect(
            Set(counts.map(\.term)) == [
                "animal", "object", "cat", "tabby cat", "tiger cat", "dog", "beagle",
                "furniture", "studio couch", "teapot",
            ])
        #expect(try fixture.store.labelCounts(LabelCountQuery(contains: "CAT")).map(\.term).sorted() == ["cat", "tabby cat", "tiger cat"])
        #expect(try fixture.store.labelCounts(LabelCountQuery(limit: 3)).count == 3)
    }

    @Test func missingDatabaseIsAClearError() throws {
        let directory = try TemporaryDirectory("labelstore")
        defer { directory.remove() }
        let path = directory.url.appendingPathComponent("labels.sqlite")
        do {
            _ = try LabelDatabase.openReadOnly(path: path, logger: StoreFixture.logger)
            Issue.record("opening a missing database must throw")
        } catch let error as LabelStoreError {
            #expect(error == .databaseMissing(path: path.path))
            #expect(error.description.contains("no label database at \(path.path)"))
            #expect(error.description.contains("--home"))
        }
        #expect(!FileManager.default.fileExists(atPath: path.path), "a read-only open must not create the file")
    }

    @Test func newerSchemaIsRefusedByReadersAndWriters() throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        try fixture.sqlite.pool.write { db in
            try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99-from-the-future')")
        }
        let path = fixture.home.labelDatabase
        #expect(throws: LabelStoreError.schemaNewer(path: path.path, unknownMigrations: ["v99-from-the-future"])) {
            _ = try LabelDatabase.openReadOnly(path: path, logger: StoreFixture.logger)
        }
        #expect(throws: LabelStoreError.schemaNewer(path: path.path, unknownMigrations: ["v99-from-the-future"])) {
            _ = try LabelDatabase(path: path, logger: StoreFixture.logger)
        }
        let message = LabelStoreError.schemaNewer(path: path.path, unknownMigrations: ["x"]).description
        #expect(message.contains("database schema is newer than this list-images; upgrade"))
    }

    @Test func reopeningAppliesNoMigrationTwice() throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        try fixture.save(StoreFixture.id("20"), minutes: 1, labels: [Sample.tabby])
        let again = try LabelDatabase(home: fixture.home, logger: StoreFixture.logger)
        #expect(try again.images(matching: ImageQuery()).count == 1)
        let applied = try again.pool.read { db in try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations") }
        #expect(applied == LabelDatabase.migrator.migrations)
        let journal = try again.pool.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }
        #expect(journal == "wal")
    }

    @Test func integrityCheckReportsDamagedCounts() throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        try fixture.save(StoreFixture.id("30"), minutes: 1, labels: [Sample.tabby])
        #expect(try fixture.store.integrityCheck() == ["ok"])
        try fixture.sqlite.pool.write { db in try db.execute(sql: "UPDATE label_counts SET image_count = 7 WHERE term = 'cat'") }
        let problems = try fixture.store.integrityCheck()
        #expect(problems != ["ok"])
        #expect(problems.contains { $0.contains("'cat'") })
    }
}
