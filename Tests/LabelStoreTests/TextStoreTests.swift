import Foundation
import GRDB
import PipelineModel
import Testing

@testable import LabelStore

/// Text in the store: saved, searched with SQLite FTS5 (words in any order, phrases, case and accents
/// ignored), shown, replaced on re-recognition; a database of the previous schema (v4) upgrades.
@Suite("Text in the store")
struct TextStoreTests {
    static let sign = DetectedLabel(name: "street sign", confidence: 70, parents: ["sign"])

    /// A text section of `lines`, each line followed by its words.
    static func text(_ lines: [String]) -> TextSection {
        var detections: [TextDetection] = []
        for (index, line) in lines.enumerated() {
            let top = 0.1 + 0.1 * Double(index)
            let box = BoundingBox(left: 0.1, top: top, width: 0.5, height: 0.05)
            let polygon = [
                ImagePoint(x: 0.1, y: top), ImagePoint(x: 0.6, y: top), ImagePoint(x: 0.6, y: top + 0.05), ImagePoint(x: 0.1, y: top + 0.05),
            ]
            let lineID = detections.count
            detections.append(TextDetection(id: lineID, type: .line, text: line, confidence: 97, parentId: nil, box: box, polygon: polygon))
            for word in line.split(separator: " ") {
                detections.append(
                    TextDetection(id: detections.count, type: .word, text: String(word), confidence: 97, parentId: lineID, box: box, polygon: polygon)
                )
            }
        }
        return TextSection(model: ModelInfo(name: "pp-ocrv5-mobile", version: "1"), detections: detections)
    }

    func save(_ fixture: StoreFixture, _ id: String, minutes: Double, text: TextSection?) throws {
        try fixture.store.saveRecognitions([
            RecognitionRecord(
                image: StoreFixture.image(id), labels: [Self.sign], model: StoreFixture.model,
                recognizedAt: StoreFixture.base.addingTimeInterval(minutes * 60), text: text)
        ])
    }

    @Test("--text finds words in any order and phrases as written, ignoring case and accents", arguments: StoreKind.allCases)
    func search(kind: StoreKind) throws {
        let fixture = try StoreFixture(kind)
        let (exit, cafe, menu, blank, unread) = (
            StoreFixture.id("a"), StoreFixture.id("b"), StoreFixture.id("c"), StoreFixture.id("d"), StoreFixture.id("e")
        )
        try save(fixture, exit, minutes: 1, text: Self.text(["EXIT", "Main Street 12"]))
        try save(fixture, cafe, minutes: 2, text: Self.text(["Café Émile", "open until 22:00"]))
        try save(fixture, menu, minutes: 3, text: Self.text(["Street food menu", "main courses"]))
        try save(fixture, blank, minutes: 4, text: Self.text([]))
        try save(fixture, unread, minutes: 5, text: nil)
        func ids(_ text: String) throws -> [String] { try fixture.store.images(matching: ImageQuery(text: text)).map(\.id) }
        #expect(try ids("exit") == [exit])
        #expect(try ids("Exit") == [exit], "case ignored")
        #expect(try ids("cafe") == [cafe], "accents ignored")
        #expect(try ids("EMILE") == [cafe])
        #expect(try ids("street main") == [menu, exit], "every word, any order, across lines")
        #expect(try ids("\"main street\"") == [exit], "a phrase as written")
        #expect(try ids("\"street main\"").isEmpty)
        #expect(try ids("22:00") == [cafe], "punctuation is only text")
        #expect(try ids("open AND NOT").isEmpty, "FTS operators are words")
        #expect(try ids("parking").isEmpty)
        #expect(throws: LabelStoreError.self) { try ids("  \"\"  ") }
        // With other filters, and shown with its lines.
        #expect(try fixture.store.images(matching: ImageQuery(labels: ["sign"], text: "street")).map(\.id) == [menu, exit])
        let detail = try #require(try fixture.store.image(idOrPrefix: exit))
        #expect(detail.text?.lines.map(\.text) == ["EXIT", "Main Street 12"])
        #expect(detail.text?.words.count == 4)
        #expect(try fixture.store.image(idOrPrefix: unread)?.text == nil)
        #expect(try fixture.store.image(idOrPrefix: blank)?.text?.detections.isEmpty == true)
    }

    @Test("re-recognition replaces the searchable text; the same recognition again changes nothing", arguments: StoreKind.allCases)
    func reRecognitionReplaces(kind: StoreKind) throws {
        let fixture = try StoreFixture(kind)
        let a = StoreFixture.id("a")
        try save(fixture, a, minutes: 1, text: Self.text(["EXIT"]))
        try save(fixture, a, minutes: 2, text: Self.text(["Entrance"]))
        func ids(_ text: String) throws -> [String] { try fixture.store.images(matching: ImageQuery(text: text)).map(\.id) }
        #expect(try ids("exit").isEmpty)
        #expect(try ids("entrance") == [a])
        let before = try fixture.dump()
        try save(fixture, a, minutes: 2, text: Self.text(["Entrance"]))
        #expect(try fixture.dump() == before)
        try save(fixture, a, minutes: 3, text: nil)
        #expect(try ids("entrance").isEmpty, "recognized without text: nothing to find")
        #expect(try fixture.store.integrityCheck() == ["ok"])
    }

    @Test("a database of the previous schema (v4) upgrades and its images become searchable when recognized again")
    func previousSchemaUpgrades() throws {
        let fixture = try StoreFixture()
        let a = StoreFixture.id("a")
        let oldPath = fixture.directory.url.appendingPathComponent("v4.sqlite")
        let queue = try DatabaseQueue(path: oldPath.path)
        try LabelDatabase.migrator.migrate(queue, upTo: "v4-faces-moderation")
        try queue.write { db in
            try db.execute(
                sql: """
                    INSERT INTO images (id, name, source_url, stored_path, byte_size, content_type, width, height,
                                        fetched_at, recognized_at, model_name, model_version)
                    VALUES (?, 'old.jpg', 'http://127.0.0.1/old.jpg', '/images/old.jpg', 10, 'image/jpeg', 4, 4, 1, 2, 'm', '1');
                    """, arguments: [a])
        }
        try queue.close()
        let upgraded = try LabelDatabase(path: oldPath, logger: StoreFixture.logger)
        #expect(try upgraded.image(idOrPrefix: a)?.text == nil)
        #expect(try upgraded.images(matching: ImageQuery(text: "exit")).isEmpty)
        try upgraded.saveRecognitions([
            RecognitionRecord(
                image: StoreFixture.image(a), labels: [Self.sign], model: StoreFixture.model, recognizedAt: StoreFixture.base,
                text: Self.text(["Emergency exit"]))
        ])
        #expect(try upgraded.images(matching: ImageQuery(text: "EXIT")).map(\.id) == [a])
        #expect(try upgraded.integrityCheck() == ["ok"])
    }
}
