import Foundation
import PipelineModel
import Presentation
import TestSupport
import Testing

@testable import ImageListing
@testable import LabelStore

/// Every output format, parsed back.
@Suite final class ListingFormatterTests {
    let fixture: StoreFixture
    let images: [ImageSummary]

    init() throws {
        fixture = try StoreFixture()
        try fixture.save(StoreFixture.id("c1"), name: "cat, \"quoted\".jpg", minutes: 1, labels: [Sample.tabby, Sample.tiger])
        try fixture.save(StoreFixture.id("c2"), name: "dog.jpg", minutes: 2, labels: [Sample.beagle, Sample.sofa, Sample.teapot])
        images = try fixture.store.images(matching: ImageQuery())
    }

    deinit { fixture.directory.remove() }

    @Test func jsonRoundTrips() throws {
        let text = try ListingFormatter(format: .json).images(images)
        let decoded = try MessageCoding.decoder().decode([ImageSummary].self, from: Data(text.utf8))
        #expect(decoded.map(\.id) == images.map(\.id))
        #expect(decoded.map(\.labels) == images.map(\.labels))
        #expect(decoded.map(\.name) == images.map(\.name))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]])
        #expect(
            Set(object[0].keys) == [
                "id", "name", "source_url", "stored_path", "byte_size", "content_type", "width", "height",
                "fetched_at", "recognized_at", "notified_at", "model_name", "model_version", "labels",
                "match_confidence", "categories", "properties", "perceptual_hash", "faces", "moderation", "text",
            ])
        #expect(object[0]["notified_at"] is NSNull)
        #expect((object[1]["recognized_at"] as? String)?.hasSuffix("Z") == true)
    }

    @Test func ndjsonIsOneObjectPerLine() throws {
        let text = try ListingFormatter(format: .ndjson).images(images)
        let lines = text.split(separator: "\n")
        #expect(lines.count == 2)
        let decoded = try lines.map { try MessageCoding.decoder().decode(ImageSummary.self, from: Data($0.utf8)) }
        #expect(decoded.map(\.id) == images.map(\.id))
    }

    @Test func csvParsesBackWithHeader() throws {
        let rows = CSV.parse(try ListingFormatter(format: .csv).images(images))
        #expect(rows.count == 3)
        #expect(
            rows[0] == [
                "id", "name", "source_url", "stored_path", "byte_size", "content_type", "width", "height",
                "fetched_at", "recognized_at", "notified_at", "model_name", "model_version", "labels", "match_confidence",
                "categories", "brightness", "contrast", "sharpness", "colors", "faces", "moderation", "moderation_labels", "text",
            ])
        let cat = try #require(rows.first { $0[0] == StoreFixture.id("c1") })
        #expect(cat[1] == "cat, \"quoted\".jpg")
        #expect(cat[13] == "tabby cat:87;tiger cat:9")
        #expect(cat[14] == "87")
        #expect(cat[10] == "")
    }

    @Test func tableFitsTheWidthAndShowsConfidences() throws {
        let wide = try ListingFormatter(format: .table, width: 200).images(images)
        #expect(wide.contains("tabby cat 87%, tiger cat 9%"))
        #expect(wide.hasPrefix("ID"))
        let narrow = try ListingFormatter(format: .table, width: 70).images(images)
        for line in narrow.split(separator: "\n") { #expect(line.count <= 70, "\(line)") }
        #expect(narrow.contains("beagle 70%, …"))
        #expect(try ListingFormatter(format: .table).images([]).isEmpty)
    }

    @Test func detailShowsEverything() throws {
        let detail = try #require(try fixture.store.image(idOrPrefix: "c2"))
        let table = try ListingFormatter(format: .table, timeZone: TimeZone(identifier: "UTC")!).detail(detail)
        #expect(table.contains(StoreFixture.id("c2")))
        #expect(table.contains("/images/\(StoreFixture.id("c2")).jpg"))
        #expect(table.contains("beagle  (dog > animal)"))
        #expect(table.contains("notified:   not yet"))
        #expect(table.contains("(1.0 s after fetch)"))
        let json = try ListingFormatter(format: .json).detail(detail)
        #expect(try MessageCoding.decoder().decode(ImageDetail.self, from: Data(json.utf8)) == detail)
        let csv = CSV.parse(try ListingFormatter(format: .csv).detail(detail))
        #expect(csv.count == 4)
        #expect(csv[1][8] == "beagle" && csv[1][10] == "dog;animal")
    }

    @Test func labelCountsInEveryFormat() throws {
        let counts = try fixture.store.labelCounts(LabelCountQuery())
        let table = try ListingFormatter(format: .table).labelCounts(counts)
        #expect(table.split(separator: "\n").count == counts.count + 1)
        let json = try ListingFormatter(format: .json).labelCounts(counts)
        #expect(try JSONDecoder().decode([LabelCount].self, from: Data(json.utf8)) == counts)
        let csv = CSV.parse(try ListingFormatter(format: .csv).labelCounts(counts))
        #expect(csv[0] == ["term", "image_count"])
        #expect(csv.dropFirst().map { LabelCount(term: $0[0], imageCount: Int($0[1]) ?? -1) } == counts)
        let nd = try ListingFormatter(format: .ndjson).labelCounts(counts).split(separator: "\n")
        #expect(try nd.map { try JSONDecoder().decode(LabelCount.self, from: Data($0.utf8)) } == counts)
    }
}

/// A strict little RFC 4180 reader, to check the CSV output independently of the writer.
enum CSV {
    static func parse(_ text: String) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            if quoted {
                if character == "\"" {
                    let next = text.index(after: index)
                    if next < text.endIndex && text[next] == "\"" {
                        field.append("\"")
                        index = next
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(character)
                }
            } else if character == "\"" {
                quoted = true
            } else if character == "," {
                row.append(field)
                field = ""
            } else if character == "\n" {
                row.append(field)
                rows.append(row)
                row = []
                field = ""
            } else {
                field.append(character)
            }
            index = text.index(after: index)
        }
        if !field.isEmpty || !row.isEmpty {
            row.append(field)
            rows.append(row)
        }
        return rows
    }
}
