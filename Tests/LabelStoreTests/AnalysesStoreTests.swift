import Foundation
import GRDB
import PipelineModel
import Testing

@testable import LabelStore

/// Categories, aliases and image properties in the store: saved, searched, shown, and an old
/// database upgraded in place.
@Suite("Categories, aliases and properties in the store")
struct AnalysesStoreTests {
    static let cat = DetectedLabel(
        name: "tabby cat", confidence: 80, parents: ["cat", "pet", "animal"], aliases: ["tabby"], categories: ["animals"])
    static let taxi = DetectedLabel(
        name: "taxi", confidence: 60, parents: ["car", "vehicle"], aliases: ["cab", "taxicab"], categories: ["vehicles"])
    static func properties(sharpness: Double, colors: [(String, String, Double)]) -> ImageProperties {
        ImageProperties(
            brightness: 50, contrast: 30, sharpness: sharpness,
            colors: colors.map { DominantColor(hex: "#336699", cssName: $0.1, simpleName: $0.0, share: $0.2) })
    }

    func save(
        _ fixture: StoreFixture, _ id: String, minutes: Double, labels: [DetectedLabel], categories: [LabelCategory], properties: ImageProperties?
    )
        throws
    {
        try fixture.store.saveRecognitions([
            RecognitionRecord(
                image: StoreFixture.image(id), labels: labels, model: StoreFixture.model,
                recognizedAt: StoreFixture.base.addingTimeInterval(minutes * 60), categories: categories, properties: properties)
        ])
    }

    @Test("--category, --color and --min-sharpness find the right images, alone and with labels", arguments: StoreKind.allCases)
    func filtersFindImages(kind: StoreKind) throws {
        let fixture = try StoreFixture(kind)
        let (a, b, c) = (StoreFixture.id("a"), StoreFixture.id("b"), StoreFixture.id("c"))
        try save(
            fixture, a, minutes: 1, labels: [Self.cat], categories: [LabelCategory(id: "animals", name: "Animals and pets", confidence: 80)],
            properties: Self.properties(sharpness: 70, colors: [("orange", "sienna", 60), ("blue", "navy", 5), ("blue", "steelblue", 4)]))
        try save(
            fixture, b, minutes: 2, labels: [Self.taxi], categories: [LabelCategory(id: "vehicles", name: "Vehicles", confidence: 60)],
            properties: Self.properties(sharpness: 20, colors: [("blue", "navy", 50), ("gray", "gray", 40)]))
        try save(
            fixture, c, minutes: 3, labels: [Self.cat], categories: [LabelCategory(id: "animals", name: "Animals and pets", confidence: 30)],
            properties: nil)

        func ids(_ query: ImageQuery) throws -> [String] { try fixture.store.images(matching: query).map(\.id) }
        #expect(try ids(ImageQuery(category: "animals")) == [c, a])
        #expect(try ids(ImageQuery(minConfidence: 50, category: "ANIMALS")) == [a] as [String], "the category's confidence is bounded too")
        #expect(try ids(ImageQuery(color: "blue")) == [b], "a's blues add up to 9%, under the default 10%")
        #expect(try ids(ImageQuery(color: "blue", minColorShare: 5)) == [b, a])
        #expect(try ids(ImageQuery(color: "navy")) == [b], "CSS names work too")
        #expect(try ids(ImageQuery(minSharpness: 50)) == [a], "c was recognized without properties")
        #expect(try ids(ImageQuery(labels: ["cab"])) == [b], "an alias finds its label")
        #expect(try ids(ImageQuery(labels: ["cat"], category: "animals", color: "orange")) == [a])
        #expect(try ids(ImageQuery(labels: ["cat", "car"], labelMatch: .any, category: "vehicles")) == [b])
        #expect(try ids(ImageQuery(labels: ["cat"], category: "vehicles")).isEmpty)
        #expect(throws: LabelStoreError.self) { try fixture.store.images(matching: ImageQuery(minSharpness: 101)) }

        let categories = try fixture.store.labelCounts(LabelCountQuery(kind: .categories))
        #expect(categories == [LabelCount(term: "animals", imageCount: 2), LabelCount(term: "vehicles", imageCount: 1)])
        let colors = try fixture.store.labelCounts(LabelCountQuery(kind: .colors)).map(\.term)
        #expect(Set(colors) == ["orange", "sienna", "blue", "navy", "steelblue", "gray"])
        let labels = try fixture.store.labelCounts(LabelCountQuery()).map(\.term)
        #expect(labels.contains("taxicab") && !labels.contains { $0.contains(":") })
        #expect(try fixture.store.integrityCheck() == ["ok"])
    }

    @Test("show returns categories and properties; re-recognition replaces colour and category rows", arguments: StoreKind.allCases)
    func showAndReplace(kind: StoreKind) throws {
        let fixture = try StoreFixture(kind)
        let a = StoreFixture.id("a")
        let props = Self.properties(sharpness: 70, colors: [("orange", "sienna", 60)])
        let animals = LabelCategory(id: "animals", name: "Animals and pets", confidence: 80)
        try save(fixture, a, minutes: 1, labels: [Self.cat], categories: [animals], properties: props)
        let detail = try #require(try fixture.store.image(idOrPrefix: "a"))
        #expect(detail.categories == [animals])
        #expect(detail.properties == props)
        #expect(detail.labels.first?.aliases == ["tabby"])
        #expect(detail.labels.first?.categories == ["animals"])

        try save(
            fixture, a, minutes: 2, labels: [Self.taxi], categories: [LabelCategory(id: "vehicles", name: "Vehicles", confidence: 60)],
            properties: Self.properties(sharpness: 10, colors: [("blue", "navy", 90)]))
        #expect(try fixture.store.images(matching: ImageQuery(color: "orange")).isEmpty)
        #expect(try fixture.store.images(matching: ImageQuery(category: "animals")).isEmpty)
        #expect(try fixture.store.images(matching: ImageQuery(color: "blue")).map(\.id) == [a])
        #expect(try fixture.store.integrityCheck() == ["ok"])
    }

    @Test("a database made by the first schema upgrades: its images list without properties and gain them when recognized again")
    func oldDatabaseUpgrades() throws {
        let fixture = try StoreFixture()
        let a = StoreFixture.id("a")
        // Rebuild the file as the first release left it: only the v1 migration, one image.
        let oldPath = fixture.directory.url.appendingPathComponent("v1.sqlite")
        let queue = try DatabaseQueue(path: oldPath.path)
        try LabelDatabase.migrator.migrate(queue, upTo: "v1-images-labels-terms-counts")
        try queue.write { db in
            try db.execute(
                sql: """
                    INSERT INTO images (id, name, source_url, stored_path, byte_size, content_type, width, height,
                                        fetched_at, recognized_at, model_name, model_version)
                    VALUES (?, 'old.jpg', 'http://127.0.0.1/old.jpg', '/images/old.jpg', 10, 'image/jpeg', 4, 4, 1, 2, 'm', '1');
                    INSERT INTO labels (image_id, rank, name, confidence, parents) VALUES (?, 0, 'tabby cat', 90, '["cat"]');
                    INSERT INTO label_terms VALUES ('tabby cat', 1, 90, 2), ('cat', 1, 90, 2);
                    """, arguments: [a, a])
        }
        try queue.close()
        let upgraded = try LabelDatabase(path: oldPath, logger: StoreFixture.logger)
        let old = try #require(try upgraded.image(idOrPrefix: a))
        #expect(old.properties == nil && old.categories.isEmpty)
        #expect(old.labels.map(\.name) == ["tabby cat"])
        #expect(try upgraded.images(matching: ImageQuery(labels: ["cat"])).map(\.id) == [a])
        try upgraded.saveRecognitions([
            RecognitionRecord(
                image: StoreFixture.image(a), labels: [Self.cat], model: StoreFixture.model, recognizedAt: StoreFixture.base,
                categories: [LabelCategory(id: "animals", name: "Animals and pets", confidence: 80)],
                properties: Self.properties(sharpness: 60, colors: [("orange", "sienna", 60)]))
        ])
        #expect(try upgraded.images(matching: ImageQuery(category: "animals", color: "orange")).map(\.id) == [a])
        #expect(try upgraded.integrityCheck() == ["ok"])
    }
}
