import Foundation
import PipelineModel
import Testing

@testable import LabelStore

@Suite("Keyset cursors")
struct CursorPagingTests {
    /// Pages `query` by cursor, `size` at a time, returning the ids in order.
    static func walk(_ store: any LabelStoring, _ query: ImageQuery, size: Int) throws -> [String] {
        var query = query
        query.limit = size
        var ids: [String] = []
        for _ in 0..<100 {
            let page = try store.images(matching: query)
            ids += page.map(\.id)
            guard page.count == size, let last = page.last?.cursor else { break }
            query.after = last
        }
        return ids
    }

    @Test("every query shape pages by cursor to exactly what one big page lists, ties of time included", arguments: StoreKind.allCases)
    func shapesAgreeWithOnePage(kind: StoreKind) throws {
        let fixture = try StoreFixture(kind)
        for index in 0..<37 {
            // Pairs of images share a recognition time; confidences repeat every 7.
            let labels = [
                DetectedLabel(name: index % 2 == 0 ? "tabby cat" : "beagle", confidence: Double(20 + index % 7 * 10), parents: ["animal"])
            ]
            try fixture.save(StoreFixture.id("c", index), minutes: Double(index / 2), labels: labels)
        }
        let queries: [ImageQuery] = [
            ImageQuery(),  // the time index of images
            ImageQuery(labels: ["animal"]),  // one term's index
            ImageQuery(labels: ["tabby cat", "beagle"]),  // any of several: grouped
            ImageQuery(labels: ["animal", "tabby cat"], labelMatch: .all),
            ImageQuery(sort: .confidence),
            ImageQuery(labels: ["animal"], sort: .confidence),
            ImageQuery(labels: ["tabby cat", "beagle"], sort: .confidence),
            ImageQuery(labels: ["animal"], minConfidence: 40, since: StoreFixture.base.addingTimeInterval(300)),
        ]
        for query in queries {
            var whole = query
            whole.limit = 1000
            let expected = try fixture.store.images(matching: whole).map(\.id)
            #expect(!expected.isEmpty)
            for size in [1, 5, 16] {
                #expect(try Self.walk(fixture.store, query, size: size) == expected, "\(query) by \(size)")
            }
        }
    }

    @Test("cursor tokens round-trip exactly and refuse anything else")
    func tokens() {
        let cursor = ListingCursor(recognizedAt: 1_790_000_123.456789, seq: 42, confidence: 87.25)
        #expect(ListingCursor(token: cursor.token) == cursor)
        let timeOnly = ListingCursor(recognizedAt: 0.1 + 0.2, seq: 7)
        #expect(ListingCursor(token: timeOnly.token) == timeOnly)
        #expect(!cursor.token.contains("/") && !cursor.token.contains("+") && !cursor.token.contains("="))
        for bad in [
            "", "c1.", "c1.!!!", "c2." + cursor.token.dropFirst(3), "c1." + Data("1:x".utf8).base64EncodedString(),
            String(repeating: "c", count: 300),
        ] {
            #expect(ListingCursor(token: bad) == nil, "\(bad)")
        }
    }
}
