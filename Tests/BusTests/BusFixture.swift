import Bus
import Foundation
import PostgresBus
import TestSupport
import Testing

/// Which bus implementation a semantic test runs against; every semantic test runs on each.
/// PostgreSQL joins when `PIPELINE_TEST_POSTGRES_URL` names a server (Scripts/test starts a
/// throw-away cluster and sets it).
enum BusKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case file, memory, postgres
    var testDescription: String { rawValue }

    static var allCases: [BusKind] { postgresURL == nil ? [.file, .memory] : [.file, .memory, .postgres] }
    static var postgresURL: String? { TestPostgres.url }
}

/// A bus on a manual clock, in a fresh temporary directory for the file bus.
final class BusFixture: @unchecked Sendable {
    let clock = ManualClock(start: Date(timeIntervalSince1970: 1_800_000_000))
    let bus: any BusAdministration
    let directory: TemporaryDirectory?

    init(_ kind: BusKind) throws {
        switch kind {
        case .file:
            let directory = try TemporaryDirectory("bus-test")
            self.directory = directory
            bus = try FileBus(root: directory.url.appendingPathComponent("bus"), clock: .manual(clock))
        case .memory:
            directory = nil
            bus = InMemoryBus(clock: .manual(clock))
        case .postgres:
            directory = nil
            // A schema of its own per fixture: tests never see each other's queues.
            let schema = "bus_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
            bus = try PostgresBus(url: BusKind.postgresURL ?? "", schema: String(schema), clock: .manual(clock))
        }
    }

    deinit { directory?.remove() }

    /// Messages waiting in `queue` with their dead-letter history, without claiming them.
    func waiting(in queue: String) throws -> [(message: BusMessage, deadLetters: [DeadLetterRecord])] {
        try bus.peek(queue, count: Int.max, all: true).map { ($0.message, $0.deadLetters) }
    }

    func redrive(_ queue: String) throws -> Int {
        try bus.redrive(from: queue)
    }

    /// Creates queue `name` subscribed to topic `topic` with `configuration`.
    func queue(
        _ name: String, topic: String = "t", filter: AttributeFilter = AttributeFilter(),
        _ configuration: QueueConfiguration = QueueConfiguration()
    ) throws {
        try bus.createQueue(name, configuration: configuration)
        try bus.subscribe(queue: name, to: topic, filter: filter)
    }

    /// Receives without waiting.
    func receive(_ queue: String, max: Int = 10, visibility: TimeInterval? = nil) async throws -> [ReceivedMessage] {
        try await bus.receive(from: queue, maxMessages: max, visibilityTimeout: visibility, wait: 0)
    }
}

extension Data {
    init(text: String) { self = Data(text.utf8) }
}
