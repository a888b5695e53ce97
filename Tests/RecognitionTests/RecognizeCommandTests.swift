import Foundation
import TestSupport
import Testing

/// `recognize classify` and `recognize labels` as a user runs them.
@Suite("recognize command line")
struct RecognizeCommandTests {
    static let samples = BuiltExecutable.projectRoot().appendingPathComponent("Models/samples")

    @Test("filters by category and label; a misspelt category or label is a usage error that says what exists")
    func filtersAndTheirErrors() throws {
        let recognize = try BuiltExecutable.url("recognize")
        let cat = Self.samples.appendingPathComponent("cat.jpg").path
        let animals = try ProcessRunner.run(
            recognize, ["classify", "--format", "json", "--features", "labels", "--include-category", "animals", cat])
        #expect(animals.status == 0)
        let line = try #require(try JSONSerialization.jsonObject(with: Data(animals.stdout.utf8)) as? [String: Any])
        let labels = try #require(line["labels"] as? [[String: Any]])
        #expect(!labels.isEmpty && labels.allSatisfy { ($0["categories"] as? [String])?.contains("animals") == true })
        #expect((line["categories"] as? [[String: Any]])?.first?["id"] as? String == "animals")

        let typo = try ProcessRunner.run(recognize, ["classify", "--include-category", "pets", cat])
        #expect(typo.status == 64)
        #expect(typo.stderr.contains("unknown category 'pets'") && typo.stderr.contains("animals"))
        let unknown = try ProcessRunner.run(recognize, ["classify", "--exclude-label", "kitty", cat])
        #expect(unknown.status == 64 && unknown.stderr.contains("'kitty' is no label"))

        let lite2 = try ProcessRunner.run(recognize, ["classify", "--model", "lite2", "--format", "json", "--features", "labels", cat])
        #expect(lite2.status == 0 && lite2.stdout.contains("efficientnet-lite2"))
        let categories = try ProcessRunner.run(recognize, ["labels", "--categories"])
        #expect(categories.status == 0 && categories.stdout.split(separator: "\n").count == 15)
    }
}
