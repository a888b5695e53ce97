import Foundation
import GRDB
import Logging
import PipelineModel
import TestSupport
import Testing

@testable import LabelStore

/// Which label store a test runs against; PostgreSQL joins when the test run has a server.
enum StoreKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite, postgres
    var testDescription: String { rawValue }
    static var allCases: [StoreKind] { TestPostgres.url == nil ? [.sqlite] : [.sqlite, .postgres] }
}

/// A label store (SQLite in a fresh temporary home, or a fresh PostgreSQL schema), filled through
/// the real store code.
struct StoreFixture {
    let directory: TemporaryDirectory
    let home: PipelineHome
    let store: any LabelStoring
    /// The SQLite store, for tests of SQLite's own files and plans (nil on PostgreSQL).
    var sqlite: LabelDatabase! { store as? LabelDatabase }
    static let logger = Logger(label: "LabelStoreTests")
    static let model = ModelInfo(name: "efficientnet-lite0", version: "test-1")
    /// A fixed base time so the tests never depend on the clock.
    static let base = Date(timeIntervalSince1970: 1_790_000_000)

    init(_ kind: StoreKind = .sqlite) throws {
        directory = try TemporaryDirectory("labelstore")
        home = PipelineHome(root: directory.url)
        switch kind {
        case .sqlite: store = try LabelDatabase(home: home, logger: Self.logger)
        case .postgres:
            store = try PostgresLabelStore(url: TestPostgres.url ?? "", schema: TestPostgres.schemaName("labels_test"), logger: Self.logger)
        }
    }

    /// A deterministic 64-hex id whose first characters are `prefix`.
    static func id(_ prefix: String, _ n: Int = 0) -> String {
        let tail = String(format: "%016x", n) + String(repeating: "0", count: 64)
        return String((prefix + tail).prefix(64))
    }

    static func image(
        _ id: String, name: String = "photo.jpg", source: String = "http://127.0.0.1/photo.jpg",
        fetchedAt: Date = base
    ) -> ImageStored {
        ImageStored(
            imageID: id, name: name, sourceURL: source, storedPath: "/images/\(id).jpg", byteSize: 1234,
            contentType: "image/jpeg", width: 640, height: 480, fetchedAt: fetchedAt)
    }

    /// Saves one image recognized `minutes` after `base`.
    @discardableResult
    func save(
        _ id: String, name: String = "photo.jpg", source: String = "http://127.0.0.1/photo.jpg",
        minutes: Double, labels: [DetectedLabel]
    ) throws -> RecognitionRecord {
        let record = RecognitionRecord(
            image: Self.image(id, name: name, source: source, fetchedAt: Self.base.addingTimeInterval(minutes * 60 - 1)),
            labels: labels, model: Self.model, recognizedAt: Self.base.addingTimeInterval(minutes * 60))
        try store.saveRecognitions([record])
        return record
    }

    /// Every row of the database's tables, as text, to compare states.
    func dump() throws -> [String] {
        if let postgres = store as? PostgresLabelStore { return try postgres.dumpRows() }
        return try sqlite.pool.read { db in
            var lines: [String] = []
            for table in ["images", "labels", "label_terms", "label_counts"] {
                for row in try Row.fetchAll(db, sql: "SELECT * FROM \(table) ORDER BY 1, 2") {
                    lines.append("\(table): \(row.description)")
                }
            }
            return lines
        }
    }
}

/// Labels used throughout: a cat photo, a dog photo, a mixed one.
enum Sample {
    static let tabby = DetectedLabel(name: "tabby cat", confidence: 87, parents: ["cat", "animal"])
    static let tiger = DetectedLabel(name: "tiger cat", confidence: 9, parents: ["cat", "animal"])
    static let beagle = DetectedLabel(name: "beagle", confidence: 70, parents: ["dog", "animal"])
    static let sofa = DetectedLabel(name: "studio couch", confidence: 20, parents: ["furniture", "object"])
    static let teapot = DetectedLabel(name: "teapot", confidence: 95, parents: ["object"])
}
