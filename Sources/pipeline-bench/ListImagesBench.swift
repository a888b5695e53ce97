import ArgumentParser
import CLISupport
import Foundation
import LabelStore
import Logging

/// Hidden: fills a large synthetic database and times the common queries (Scripts/bench-list-images).
struct ListImagesBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list-images", abstract: "Fill a synthetic label database and time the common queries.")

    @OptionGroup var logging: LoggingOptions
    @Option(help: "Database file to fill (if missing or --refill) and query.")
    var database: String
    @Option(help: "Images to generate, five labels each.")
    var images = 1_000_000
    @Option(help: "Timed runs per query; the median is reported.")
    var runs = 7
    @Option(help: "Class names and parents (used when present).")
    var taxonomy = "Models/imagenet-taxonomy.json"
    @Option(help: "Class names, one per line (used when the taxonomy is missing).")
    var classes = "Models/imagenet-classes.txt"
    @Flag(help: "Delete and refill the database even if it exists.")
    var refill = false
    @Flag(help: "Also time `duplicates` over the whole database (slow: one run).")
    var withDuplicates = false
    @Flag(help: "Add the images to the database even if it exists (tests run several writer processes this way).")
    var append = false
    @Flag(help: "Only fill; skip the timed queries.")
    var fillOnly = false
    @Option(help: "Seed of the generated data (different seeds give different images).")
    var seed: UInt64 = 42

    func run() throws {
        let logger = logging.bootstrap(label: "list-images")
        let url = URL(fileURLWithPath: database)
        let classesURL = FileManager.default.fileExists(atPath: classes) ? URL(fileURLWithPath: classes) : nil
        let taxonomyURL = FileManager.default.fileExists(atPath: taxonomy) ? URL(fileURLWithPath: taxonomy) : nil
        // Fixed epoch so the data (and therefore the figures) are the same on every run.
        let start = Date(timeIntervalSince1970: 1_790_000_000)
        let span: TimeInterval = 30 * 86_400
        let catalog = SyntheticRecognitions(taxonomyFile: taxonomyURL, classesFile: classesURL, seed: seed, start: start, span: span)
        print("classes: \(catalog.classes.count) from \(taxonomyURL?.path ?? classesURL?.path ?? "built-in names")")

        if refill {
            for suffix in ["", "-wal", "-shm", "-open.lock"] { try? FileManager.default.removeItem(atPath: url.path + suffix) }
        }
        if append || !FileManager.default.fileExists(atPath: url.path) {
            try fill(url, catalog: catalog, logger: logger)
        }
        if fillOnly { return }
        let store = try LabelDatabase.openReadOnly(path: url, logger: logger)
        let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
        print(String(format: "database: %@ (%.0f MiB)", url.path, Double(size) / 1_048_576))

        let counts = try store.labelCounts(LabelCountQuery())
        let count = { (term: String) in counts.first { $0.term == term }?.imageCount ?? 0 }
        let popular = catalog.className(popularityRank: 0)
        let popularParent = catalog.parents[catalog.classes.firstIndex(of: popular) ?? 0].first ?? "entity"
        let topParent = counts.first?.term ?? "entity"
        let middling = catalog.className(popularityRank: 100)
        let rare = catalog.className(popularityRank: 900)
        let until = start.addingTimeInterval(span)
        let someID = try store.images(matching: ImageQuery(limit: 1, offset: 1234)).first?.id ?? "0"

        let cases: [(String, ImageQuery)] = [
            ("label, popular leaf '\(popular)' (\(count(popular)) images)", ImageQuery(labels: [popular])),
            ("label, middling leaf '\(middling)' (\(count(middling)))", ImageQuery(labels: [middling])),
            ("label, rare leaf '\(rare)' (\(count(rare)))", ImageQuery(labels: [rare])),
            ("label, commonest parent '\(topParent)' (\(count(topParent)))", ImageQuery(labels: [topParent])),
            ("label + min-confidence 90, popular", ImageQuery(labels: [popular], minConfidence: 90)),
            ("label + min-confidence 90, rare", ImageQuery(labels: [rare], minConfidence: 90)),
            ("label, sort confidence, popular", ImageQuery(labels: [popular], sort: .confidence)),
            ("label + last 24 h, middling", ImageQuery(labels: [middling], since: until.addingTimeInterval(-86_400))),
            ("time range, last hour, no label", ImageQuery(since: until.addingTimeInterval(-3600), until: until)),
            (
                "time range, one day 10 days ago, offset 500",
                ImageQuery(since: until.addingTimeInterval(-11 * 86_400), until: until.addingTimeInterval(-10 * 86_400), offset: 500)
            ),
            ("--all: leaf + its parent '\(popularParent)'", ImageQuery(labels: [popular, popularParent], labelMatch: .all)),
            ("--any: two middling leaves (grouped)", ImageQuery(labels: [middling, catalog.className(popularityRank: 101)])),
            ("--category animals", ImageQuery(category: "animals")),
            ("--category people (rare)", ImageQuery(category: "people")),
            ("--category animals --sort confidence", ImageQuery(category: "animals", sort: .confidence)),
            ("--color blue (share >= 10)", ImageQuery(color: "blue")),
            ("--color purple --min-color-share 30 (rare)", ImageQuery(color: "purple", minColorShare: 30)),
            ("--min-sharpness 70 (about a tenth of the images)", ImageQuery(minSharpness: 70)),
            ("label popular + --category + --color", ImageQuery(labels: [popular], category: "animals", color: "gray")),
        ]
        print("\nquery                                                   median ms   (min..max over \(runs) runs)")
        var plans: [(String, [String])] = []
        for (title, query) in cases {
            let times = try (0..<runs).map { _ in try timed { _ = try store.images(matching: query) } }
            report(title, times)
            plans.append((title, try store.queryPlan(for: query)))
        }
        report("show by 8-char id prefix", try (0..<runs).map { _ in try timed { _ = try store.image(idOrPrefix: String(someID.prefix(8))) } })
        report("labels count (all \(counts.count) terms)", try (0..<runs).map { _ in try timed { _ = try store.labelCounts(LabelCountQuery()) } })
        report("similar ID (top 10 by embedding)", try (0..<runs).map { _ in try timed { _ = try store.similarImages(to: someID, limit: 10) } })
        if withDuplicates {
            // One run: a whole-library report, not an interactive query.
            var groups = 0
            report("duplicates (hash <= 8 bits or similarity >= 0.8)", [try timed { groups = try store.duplicateGroups(DuplicateQuery()).count }])
            print("  \(groups) groups")
        }

        print("\nEXPLAIN QUERY PLAN")
        for (title, plan) in plans {
            print("- \(title)")
            for line in plan { print("    \(line)") }
        }
    }

    private func fill(_ url: URL, catalog: SyntheticRecognitions, logger: Logger) throws {
        var catalog = catalog
        let store = try LabelDatabase(path: url, logger: logger, cacheMiB: 2048)
        // Small runs (tests) commit often so concurrent writers interleave.
        let batch = images >= 100_000 ? 10_000 : 10
        let began = Date()
        var written = 0
        while written < images {
            let items = (written..<min(images, written + batch)).map { catalog.next(serial: $0) }
            try store.saveRecognitions(items)
            written += items.count
            if written % 100_000 == 0 || (written == images && images >= 100_000) {
                let elapsed = Date().timeIntervalSince(began)
                print(String(format: "filled %d images in %.1f s (%.0f images/s)", written, elapsed, Double(written) / elapsed))
            }
        }
    }

    private func timed(_ body: () throws -> Void) throws -> Double {
        let began = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - began) / 1e6
    }

    private func report(_ title: String, _ times: [Double]) {
        let sorted = times.sorted()
        let median = sorted[sorted.count / 2]
        let padded = title.count >= 55 ? String(title.prefix(55)) : title + String(repeating: " ", count: 55 - title.count)
        print(String(format: "%@  %8.2f     (%.2f..%.2f)", padded, median, sorted.first ?? 0, sorted.last ?? 0))
    }
}
