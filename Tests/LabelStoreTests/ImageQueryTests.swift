import Foundation
import PipelineModel
import TestSupport
import Testing

@testable import LabelStore

/// Every listing filter against one small database:
///   a1 cat photo  (tabby 87, tiger 9)     minute 10, source http://127.0.0.1/cats/a1.jpg
///   a2 dog photo  (beagle 70, couch 20)   minute 20, source http://127.0.0.1/dogs/a2.jpg
///   a3 teapot     (teapot 95)             minute 30, source http://example.test/kitchen/a3.png
///   a4 cat + dog  (tabby 40, beagle 35)   minute 40, source http://127.0.0.1/pets/a4.jpg
@Suite final class ImageQueryTests {
    var fixture: StoreFixture!
    let a1 = StoreFixture.id("a1"), a2 = StoreFixture.id("a2"), a3 = StoreFixture.id("a3"), a4 = StoreFixture.id("a4")

    /// Fills a store of `kind` with the four images.
    func use(_ kind: StoreKind) throws {
        fixture = try StoreFixture(kind)
        try fixture.save(a1, name: "Kitty.jpg", source: "http://127.0.0.1/cats/a1.jpg", minutes: 10, labels: [Sample.tabby, Sample.tiger])
        try fixture.save(a2, name: "rex.jpg", source: "http://127.0.0.1/dogs/a2.jpg", minutes: 20, labels: [Sample.beagle, Sample.sofa])
        try fixture.save(a3, name: "pot.png", source: "http://example.test/kitchen/a3.png", minutes: 30, labels: [Sample.teapot])
        try fixture.save(
            a4, name: "pets_100%.jpg", source: "http://127.0.0.1/pets/a4.jpg", minutes: 40,
            labels: [
                DetectedLabel(name: "tabby cat", confidence: 40, parents: ["cat", "animal"]),
                DetectedLabel(name: "beagle", confidence: 35, parents: ["dog", "animal"]),
            ])
    }

    deinit { fixture?.directory.remove() }

    func ids(_ query: ImageQuery) throws -> [String] {
        try fixture.store.images(matching: query).map(\.id)
    }

    @Test(arguments: StoreKind.allCases) func noFilterListsNewestFirstWithLabels(kind: StoreKind) throws {
        try use(kind)
        let images = try fixture.store.images(matching: ImageQuery())
        #expect(images.map(\.id) == [a4, a3, a2, a1])
        #expect(images.last?.labels == [Sample.tabby, Sample.tiger])
        #expect(images.last?.matchConfidence == 87, "without a label filter the top label's confidence")
    }

    @Test(arguments: StoreKind.allCases) func labelMatchesLeafOrParentCaseInsensitively(kind: StoreKind) throws {
        try use(kind)
        #expect(try ids(ImageQuery(labels: ["TABBY CAT"])) == [a4, a1])
        #expect(try ids(ImageQuery(labels: ["Cat"])) == [a4, a1])
        #expect(try ids(ImageQuery(labels: ["animal"])) == [a4, a2, a1])
        #expect(try ids(ImageQuery(labels: ["object"])) == [a3, a2])
        #expect(try ids(ImageQuery(labels: ["giraffe"])) == [])
    }

    @Test(arguments: StoreKind.allCases) func matchConfidenceIsTheBestMatchingLabels(kind: StoreKind) throws {
        try use(kind)
        let animals = try fixture.store.images(matching: ImageQuery(labels: ["animal"]))
        #expect(animals.map(\.matchConfidence) == [40, 70, 87])
        let cats = try fixture.store.images(matching: ImageQuery(labels: ["cat"]))
        #expect(cats.map(\.matchConfidence) == [40, 87], "tabby 87 beats tiger 9 for the shared parent")
    }

    @Test(arguments: StoreKind.allCases) func anyAndAllCombineSeveralLabels(kind: StoreKind) throws {
        try use(kind)
        #expect(try ids(ImageQuery(labels: ["cat", "teapot"])) == [a4, a3, a1])
        #expect(try ids(ImageQuery(labels: ["cat", "dog"], labelMatch: .all)) == [a4])
        #expect(try ids(ImageQuery(labels: ["cat", "dog", "object"], labelMatch: .all)).isEmpty)
        // Duplicate terms (any case) are one term.
        #expect(try ids(ImageQuery(labels: ["cat", "CAT"], labelMatch: .all)) == [a4, a1])
    }

    @Test(arguments: StoreKind.allCases) func minConfidenceAppliesToTheMatchingLabel(kind: StoreKind) throws {
        try use(kind)
        #expect(try ids(ImageQuery(labels: ["cat"], minConfidence: 50)) == [a1])
        #expect(try ids(ImageQuery(labels: ["tiger cat"], minConfidence: 10)).isEmpty)
        #expect(try ids(ImageQuery(labels: ["cat", "dog"], labelMatch: .all, minConfidence: 36)).isEmpty)
        #expect(try ids(ImageQuery(labels: ["cat", "dog"], minConfidence: 60)) == [a2, a1])
        // Without labels: the top label's confidence.
        #expect(try ids(ImageQuery(minConfidence: 80)) == [a3, a1])
    }

    @Test(arguments: StoreKind.allCases) func timeRangeIsSinceInclusiveUntilExclusive(kind: StoreKind) throws {
        try use(kind)
        let at = { (minutes: Double) in StoreFixture.base.addingTimeInterval(minutes * 60) }
        #expect(try ids(ImageQuery(since: at(20), until: at(40))) == [a3, a2])
        #expect(try ids(ImageQuery(labels: ["animal"], since: at(15))) == [a4, a2])
        #expect(try ids(ImageQuery(labels: ["cat", "teapot"], until: at(30))) == [a1])
        #expect(try ids(ImageQuery(labels: ["cat", "dog"], labelMatch: .all, since: at(41))) == [])
    }

    @Test(arguments: StoreKind.allCases) func sourceAndNameAreCaseInsensitiveSubstrings(kind: StoreKind) throws {
        try use(kind)
        #expect(try ids(ImageQuery(sourceContains: "127.0.0.1/")) == [a4, a2, a1])
        #expect(try ids(ImageQuery(sourceContains: "KITCHEN")) == [a3])
        #expect(try ids(ImageQuery(nameContains: "kitty")) == [a1])
        // LIKE wildcards in the text are literal.
        #expect(try ids(ImageQuery(nameContains: "_100%")) == [a4])
        #expect(try ids(ImageQuery(nameContains: "%")) == [a4])
        #expect(try ids(ImageQuery(labels: ["animal"], sourceContains: "dogs")) == [a2])
    }

    @Test(arguments: StoreKind.allCases) func limitAndOffsetPage(kind: StoreKind) throws {
        try use(kind)
        #expect(try ids(ImageQuery(limit: 2)) == [a4, a3])
        #expect(try ids(ImageQuery(limit: 2, offset: 2)) == [a2, a1])
        #expect(try ids(ImageQuery(labels: ["animal"], limit: 1, offset: 1)) == [a2])
        #expect(try ids(ImageQuery(limit: 10, offset: 10)) == [])
    }

    @Test(arguments: StoreKind.allCases) func sortByConfidence(kind: StoreKind) throws {
        try use(kind)
        #expect(try ids(ImageQuery(sort: .confidence)) == [a3, a1, a2, a4])
        #expect(try ids(ImageQuery(labels: ["animal"], sort: .confidence)) == [a1, a2, a4])
        #expect(try ids(ImageQuery(labels: ["cat", "object"], sort: .confidence)) == [a3, a1, a4, a2])
        #expect(try ids(ImageQuery(labels: ["cat", "animal"], labelMatch: .all, sort: .confidence)) == [a1, a4])
    }

    @Test(arguments: StoreKind.allCases) func invalidQueriesAreRejected(kind: StoreKind) throws {
        try use(kind)
        #expect(throws: LabelStoreError.self) { try fixture.store.images(matching: ImageQuery(minConfidence: 101)) }
        #expect(throws: LabelStoreError.self) { try fixture.store.images(matching: ImageQuery(limit: -1)) }
    }

    @Test func listingUsesIndexesWithoutSorting() throws {
        try use(.sqlite)
        for query in [
            ImageQuery(labels: ["cat"]), ImageQuery(labels: ["cat"], minConfidence: 50, sort: .confidence),
            ImageQuery(since: StoreFixture.base), ImageQuery(labels: ["cat", "dog"], labelMatch: .all),
        ] {
            let plan = try fixture.sqlite.queryPlan(for: query).joined(separator: "\n")
            #expect(!plan.contains("TEMP B-TREE"), "\(query) sorts:\n\(plan)")
            #expect(!plan.contains("SCAN"), "\(query) scans:\n\(plan)")
        }
    }
}
