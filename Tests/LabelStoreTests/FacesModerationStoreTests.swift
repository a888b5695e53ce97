import Foundation
import GRDB
import PipelineModel
import Testing

@testable import LabelStore

/// Faces and moderation in the store: saved, searched by count, person and safety, shown, and
/// replaced on re-recognition; a database of the previous schema upgrades.
@Suite("Faces and moderation in the store")
struct FacesModerationStoreTests {
    static let person = DetectedLabel(name: "person", confidence: 90, parents: [], categories: ["people"])
    static let cat = DetectedLabel(name: "tabby cat", confidence: 80, parents: ["cat", "animal"])

    static func faces(_ confidences: [Double]) -> FacesSection {
        FacesSection(
            model: ModelInfo(name: "face-detection-full-range", version: "1"),
            faces: confidences.enumerated().map { index, confidence in
                DetectedFace(
                    box: BoundingBox(left: 0.1 * Double(index), top: 0.2, width: 0.1, height: 0.1), confidence: confidence,
                    keypoints: [FaceKeypoint(type: "left eye", x: 0.1 * Double(index) + 0.03, y: 0.23)])
            })
    }

    static func moderation(_ labels: [(String, Double)]) -> ModerationSection {
        ModerationSection(
            model: ModelInfo(name: "open-nsfw", version: "1"),
            labels: labels.map { ModerationLabel(name: $0.0, parentName: "", taxonomyLevel: 1, confidence: $0.1) }, minConfidence: 50,
            nsfwScore: labels.first { $0.0 == "Explicit" }?.1 ?? 1)
    }

    func save(
        _ fixture: StoreFixture, _ id: String, minutes: Double, labels: [DetectedLabel], faces: FacesSection?, moderation: ModerationSection?
    ) throws {
        try fixture.store.saveRecognitions([
            RecognitionRecord(
                image: StoreFixture.image(id), labels: labels, model: StoreFixture.model,
                recognizedAt: StoreFixture.base.addingTimeInterval(minutes * 60), faces: faces, moderation: moderation)
        ])
    }

    @Test("--faces N, N+ and 0, --person, --safe and --unsafe find the right images", arguments: StoreKind.allCases)
    func filtersFindImages(kind: StoreKind) throws {
        let fixture = try StoreFixture(kind)
        let (one, three, none, cat, old) = (
            StoreFixture.id("a"), StoreFixture.id("b"), StoreFixture.id("c"), StoreFixture.id("d"), StoreFixture.id("e")
        )
        try save(fixture, one, minutes: 1, labels: [Self.person], faces: Self.faces([92]), moderation: Self.moderation([]))
        try save(fixture, three, minutes: 2, labels: [Self.person], faces: Self.faces([95, 80, 60]), moderation: Self.moderation([("Explicit", 70)]))
        try save(fixture, none, minutes: 3, labels: [Self.cat], faces: Self.faces([]), moderation: Self.moderation([]))
        try save(fixture, cat, minutes: 4, labels: [Self.cat], faces: nil, moderation: nil)
        try save(fixture, old, minutes: 5, labels: [Self.person], faces: nil, moderation: nil)

        func ids(_ query: ImageQuery) throws -> [String] { try fixture.store.images(matching: query).map(\.id) }
        #expect(try ids(ImageQuery(minFaces: 1)) == [three, one])
        #expect(try ids(ImageQuery(minFaces: 2)) == [three])
        #expect(try ids(ImageQuery(minFaces: 1, maxFaces: 1)) == [one], "exactly one")
        #expect(try ids(ImageQuery(minFaces: 3, maxFaces: 3)) == [three])
        #expect(try ids(ImageQuery(minFaces: 0, maxFaces: 0)) == [none], "no faces: searched, none found; never-searched images left out")
        #expect(try ids(ImageQuery(minFaces: 0)) == [none, three, one])
        #expect(try ids(ImageQuery(person: true)) == [old, three, one], "the person label, from faces or the classifier")
        #expect(try ids(ImageQuery(safety: .unsafe)) == [three])
        #expect(try ids(ImageQuery(safety: .safe)) == [none, one], "unmoderated images are neither")
        #expect(try ids(ImageQuery(labels: ["cat"], minFaces: 0, maxFaces: 0, safety: .safe)) == [none])
        #expect(throws: LabelStoreError.self) { try ids(ImageQuery(minFaces: -1)) }
        #expect(throws: LabelStoreError.self) { try ids(ImageQuery(minFaces: 3, maxFaces: 2)) }
        // Counting labels leaves the face and moderation rows out.
        let terms = try fixture.store.labelCounts(LabelCountQuery()).map(\.term)
        #expect(!terms.contains { $0.hasPrefix("faces:") || $0.hasPrefix("moderation:") }, "\(terms)")
        #expect(terms.contains("person"))

        let detail = try #require(try fixture.store.image(idOrPrefix: three))
        #expect(detail.faces?.count == 3)
        #expect(detail.faces?.first?.confidence == 95)
        #expect(detail.moderation?.isUnsafe == true)
        #expect(detail.moderation?.labels.map(\.name) == ["Explicit"])
        #expect(try fixture.store.image(idOrPrefix: cat)?.faces == nil)
    }

    @Test("re-recognition with fewer faces and a safe verdict replaces the rows exactly", arguments: StoreKind.allCases)
    func reRecognitionReplaces(kind: StoreKind) throws {
        let fixture = try StoreFixture(kind)
        let a = StoreFixture.id("a")
        try save(fixture, a, minutes: 1, labels: [Self.person], faces: Self.faces([95, 80, 60]), moderation: Self.moderation([("Explicit", 70)]))
        try save(fixture, a, minutes: 2, labels: [Self.person], faces: Self.faces([95]), moderation: Self.moderation([]))
        func ids(_ query: ImageQuery) throws -> [String] { try fixture.store.images(matching: query).map(\.id) }
        #expect(try ids(ImageQuery(minFaces: 2)).isEmpty)
        #expect(try ids(ImageQuery(minFaces: 1, maxFaces: 1)) == [a])
        #expect(try ids(ImageQuery(safety: .unsafe)).isEmpty)
        #expect(try ids(ImageQuery(safety: .safe)) == [a])
        // The same recognition again changes nothing (redelivery).
        let before = try fixture.dump()
        try save(fixture, a, minutes: 2, labels: [Self.person], faces: Self.faces([95]), moderation: Self.moderation([]))
        #expect(try fixture.dump() == before)
        #expect(try fixture.store.integrityCheck() == ["ok"])
    }

    @Test("a database of the previous schema (v3) upgrades and its images gain faces when recognized again")
    func previousSchemaUpgrades() throws {
        let fixture = try StoreFixture()
        let a = StoreFixture.id("a")
        let oldPath = fixture.directory.url.appendingPathComponent("v3.sqlite")
        let queue = try DatabaseQueue(path: oldPath.path)
        try LabelDatabase.migrator.migrate(queue, upTo: "v3-fingerprints")
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
        #expect(try upgraded.image(idOrPrefix: a)?.faces == nil)
        #expect(try upgraded.images(matching: ImageQuery(minFaces: 0)).isEmpty)
        try upgraded.saveRecognitions([
            RecognitionRecord(
                image: StoreFixture.image(a), labels: [Self.person], model: StoreFixture.model, recognizedAt: StoreFixture.base,
                faces: Self.faces([90, 85]), moderation: Self.moderation([]))
        ])
        #expect(try upgraded.images(matching: ImageQuery(minFaces: 2, safety: .safe)).map(\.id) == [a])
        #expect(try upgraded.integrityCheck() == ["ok"])
    }
}
