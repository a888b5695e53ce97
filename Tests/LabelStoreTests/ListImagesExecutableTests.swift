import Foundation
import GRDB
import PipelineModel
import TestSupport
import Testing

@testable import LabelStore

/// Runs the built `list-images` binary against a database filled through the store.
@Suite final class ListImagesExecutableTests {
    let fixture: StoreFixture
    let executable: URL

    init() throws {
        executable = try BuiltExecutable.url("list-images")
        fixture = try StoreFixture()
        try fixture.save(StoreFixture.id("e1"), name: "kitty.jpg", minutes: 1, labels: [Sample.tabby, Sample.tiger])
        try fixture.save(StoreFixture.id("e2"), name: "rex.jpg", minutes: 2, labels: [Sample.beagle, Sample.sofa])
        try fixture.save(StoreFixture.id("e3"), name: "pot.png", minutes: 3, labels: [Sample.teapot])
        try fixture.save(StoreFixture.id("f3"), name: "other.png", minutes: 4, labels: [Sample.teapot])
    }

    deinit { fixture.directory.remove() }

    func run(_ arguments: [String], environment: [String: String] = ["COLUMNS": "100"]) throws -> ProcessOutput {
        try ProcessRunner.run(executable, arguments + ["--home", fixture.home.root.path], environment: environment)
    }

    @Test func defaultListIsATable() throws {
        let output = try run([])
        #expect(output.status == 0, "\(output.stderr)")
        let lines = output.stdout.split(separator: "\n")
        #expect(lines.count == 5)
        #expect(lines[0].hasPrefix("ID"))
        #expect(lines[1].hasPrefix(String(StoreFixture.id("f3").prefix(12))))
        #expect(output.stdout.contains("tabby cat 87%, tiger cat 9%"))
    }

    @Test func tableFitsCOLUMNS() throws {
        let output = try run(["--label", "animal"], environment: ["COLUMNS": "60"])
        #expect(output.status == 0)
        for line in output.stdout.split(separator: "\n") { #expect(line.count <= 60, "\(line)") }
        #expect(output.stdout.contains("MATCH"))
    }

    @Test func filtersAndJSON() throws {
        let output = try run(["list", "--label", "CAT", "--label", "object", "--min-confidence", "50", "--format", "json"])
        #expect(output.status == 0, "\(output.stderr)")
        let images = try MessageCoding.decoder().decode([ImageSummary].self, from: Data(output.stdout.utf8))
        #expect(images.map(\.id) == [StoreFixture.id("f3"), StoreFixture.id("e3"), StoreFixture.id("e1")])
        let all = try run(["--label", "cat", "--label", "dog", "--all", "--format", "ndjson"])
        #expect(all.status == 0 && all.stdout.isEmpty)
        let sorted = try run(["--sort", "confidence", "--limit", "2", "--offset", "1", "--format", "ndjson"])
        let ids = try sorted.stdout.split(separator: "\n").map { try MessageCoding.decoder().decode(ImageSummary.self, from: Data($0.utf8)).id }
        #expect(ids == [StoreFixture.id("e3"), StoreFixture.id("e1")])
    }

    @Test func timeSourceAndNameFilters() throws {
        let since = ISO8601DateFormatter().string(from: StoreFixture.base.addingTimeInterval(90))
        let until = ISO8601DateFormatter().string(from: StoreFixture.base.addingTimeInterval(200))
        let output = try run(["--since", since, "--until", until, "--format", "csv"])
        #expect(output.status == 0, "\(output.stderr)")
        let rows = CSV.parse(output.stdout)
        #expect(rows.dropFirst().map { $0[0] } == [StoreFixture.id("e3"), StoreFixture.id("e2")])
        let recent = try run(["--since", "1h", "--format", "csv"])
        #expect(CSV.parse(recent.stdout).count == 1, "the fixture's images are years old: header only")
        let named = try run(["--name", "REX", "--source", "127.0.0.1", "--format", "csv"])
        #expect(CSV.parse(named.stdout).dropFirst().map { $0[1] } == ["rex.jpg"])
    }

    @Test func showByPrefixAndAmbiguity() throws {
        let output = try run(["show", "e1"])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.stdout.contains(StoreFixture.id("e1")))
        #expect(output.stdout.contains("tabby cat  (cat > animal)"))
        let json = try run(["show", "e2", "--format", "json"])
        #expect(try MessageCoding.decoder().decode(ImageDetail.self, from: Data(json.stdout.utf8)).name == "rex.jpg")
        let ambiguous = try run(["show", "e"])
        #expect(ambiguous.status == 1)
        #expect(ambiguous.stderr.contains("ambiguous"))
        #expect(ambiguous.stderr.contains(StoreFixture.id("e3")))
        let missing = try run(["show", "abc"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("no image"))
    }

    @Test func labelsAndCheck() throws {
        let labels = try run(["labels", "--format", "json"])
        #expect(labels.status == 0)
        let counts = try JSONDecoder().decode([LabelCount].self, from: Data(labels.stdout.utf8))
        #expect(counts.first == LabelCount(term: "object", imageCount: 3))
        let check = try run(["check"])
        #expect(check.status == 0)
        #expect(check.stdout == "ok\n")
        try fixture.sqlite.pool.write { db in try db.execute(sql: "UPDATE label_counts SET image_count = 99 WHERE term = 'dog'") }
        let broken = try run(["check"])
        #expect(broken.status != 0)
        #expect(broken.stdout.contains("'dog'"))
    }

    @Test func facesPersonAndSafety() throws {
        let face = DetectedFace(box: BoundingBox(left: 0.2, top: 0.2, width: 0.3, height: 0.3), confidence: 91, keypoints: [])
        try fixture.store.saveRecognitions([
            RecognitionRecord(
                image: StoreFixture.image(StoreFixture.id("a1"), name: "pair.jpg"),
                labels: [DetectedLabel(name: "person", confidence: 91, parents: [], categories: ["people"])], model: StoreFixture.model,
                recognizedAt: StoreFixture.base.addingTimeInterval(600),
                faces: FacesSection(model: ModelInfo(name: "f", version: "1"), faces: [face, face]),
                moderation: ModerationSection(model: ModelInfo(name: "n", version: "1"), labels: [], minConfidence: 50, nsfwScore: 0.5))
        ])
        let output = try run(["--faces", "2", "--person", "--safe", "--format", "ndjson"])
        #expect(output.status == 0, "\(output.stderr)")
        let images = try output.stdout.split(separator: "\n").map { try MessageCoding.decoder().decode(ImageSummary.self, from: Data($0.utf8)) }
        #expect(images.map(\.id) == [StoreFixture.id("a1")])
        #expect(images.first?.faces?.count == 2)
        #expect(try run(["--faces", "3+"]).stdout.isEmpty)
        let show = try run(["show", String(StoreFixture.id("a1").prefix(8))])
        #expect(show.stdout.contains("faces:      2") && show.stdout.contains("moderation: safe"), "\(show.stdout)")
    }

    @Test func textSearchAndShow() throws {
        try fixture.store.saveRecognitions([
            RecognitionRecord(
                image: StoreFixture.image(StoreFixture.id("b1"), name: "sign.jpg"), labels: [Sample.teapot], model: StoreFixture.model,
                recognizedAt: StoreFixture.base.addingTimeInterval(700), text: TextStoreTests.text(["EXIT", "Main Street 12"]))
        ])
        let output = try run(["--text", "Exit", "--format", "ndjson"])
        #expect(output.status == 0, "\(output.stderr)")
        let images = try output.stdout.split(separator: "\n").map { try MessageCoding.decoder().decode(ImageSummary.self, from: Data($0.utf8)) }
        #expect(images.map(\.id) == [StoreFixture.id("b1")])
        #expect(images.first?.text?.lines.map(\.text) == ["EXIT", "Main Street 12"])
        #expect(try run(["--text", "\"street main\""]).stdout.isEmpty)
        let show = try run(["show", String(StoreFixture.id("b1").prefix(8))])
        #expect(show.stdout.contains("text:       2 lines, 4 words") && show.stdout.contains("\"Main Street 12\""), "\(show.stdout)")
        let csv = try run(["--text", "main", "--format", "csv"])
        #expect(csv.stdout.contains("EXIT / Main Street 12"), "\(csv.stdout)")
        #expect(try run(["--text", " \"\" "]).status == 64, "no word to search for")
    }

    @Test func exitCodes() throws {
        let missing = try ProcessRunner.run(executable, ["--home", fixture.home.root.appendingPathComponent("nowhere").path])
        #expect(missing.status == 66)
        #expect(missing.stderr.contains("no label database at"))
        #expect(try run(["--sort", "sideways"]).status == 64)
        #expect(try run(["--min-confidence", "120"]).status == 64)
        #expect(try run(["--since", "last tuesday"]).status == 64)
        #expect(try run(["--frobnicate"]).status == 64)
        let badFaces = try run(["--faces", "two"])
        #expect(badFaces.status == 64 && badFaces.stderr.contains("N+ (at least)"))
        #expect(try run(["--safe", "--unsafe"]).status == 64)
        try fixture.sqlite.pool.write { db in try db.execute(sql: "INSERT INTO grdb_migrations VALUES ('v99-newer')") }
        let newer = try run([])
        #expect(newer.status == 1)
        #expect(newer.stderr.contains("database schema is newer than this list-images; upgrade"))
    }
}
