import Foundation
import TestSupport
import Testing

/// The workers on the PostgreSQL bus (`--database`): fetch-image, recognize and notify-xml as
/// separate processes sharing one database, as they would on separate machines. Runs when
/// `PIPELINE_TEST_POSTGRES_URL` names a server (Scripts/test starts a throw-away cluster).
@Suite("Pipeline on the PostgreSQL bus", .serialized)
struct PostgresEndToEndTests {
    static let samples = BuiltExecutable.projectRoot().appendingPathComponent("Models/samples")
    static let server = ProcessInfo.processInfo.environment["PIPELINE_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }

    /// A fresh database on the test server, for one test.
    static func freshDatabase() throws -> String {
        let server = try #require(Self.server)
        let name = "e2e_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
        let made = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/psql"), [server, "-qc", "CREATE DATABASE \(name)"], timeout: 60)
        #expect(made.status == 0, "\(made.stderr)")
        var components = try #require(URLComponents(string: server))
        components.path = "/\(name)"
        return try #require(components.string)
    }

    @Test("photos fetched, labelled and notified once each through the PostgreSQL bus", .enabled(if: server != nil))
    func samplePhotosThroughPostgres() async throws {
        let database = try Self.freshDatabase()
        let temp = try TemporaryDirectory("e2e-pg")
        defer { temp.remove() }
        let home = temp.url.appendingPathComponent("home")
        let outbox = temp.url.appendingPathComponent("outbox")
        let photos = ["cat.jpg", "coffee.jpg", "rocket.jpg"]
        let web = try await TestHTTPServer.started()
        for photo in photos {
            let bytes = try Data(contentsOf: Self.samples.appendingPathComponent(photo))
            await web.route("/\(photo)") { _ in TestResponses.ok(bytes, contentType: "image/jpeg") }
        }
        let portFile = temp.url.appendingPathComponent("sink.port")
        let sink = try ProcessRunner.start(
            try BuiltExecutable.url("mail-sink"), ["--port", "0", "--port-file", portFile.path, "--outbox", outbox.path],
            logFile: temp.url.appendingPathComponent("sink.log"))
        let port = try await PipelineEndToEndTests.waitForContents(of: portFile)

        // The environment variable selects the bus for every worker, as the flag does.
        let environment = ["IMAGE_PIPELINE_DATABASE_URL": database]
        let fetch = try ProcessRunner.run(
            try BuiltExecutable.url("fetch-image"), ["--home", home.path, "--allow-private"] + photos.map { web.url("/\($0)") },
            environment: environment)
        #expect(fetch.status == 0, "\(fetch.stdout)\n\(fetch.stderr)")
        let recognize = try ProcessRunner.start(
            try BuiltExecutable.url("recognize"), ["run", "--home", home.path, "--features", "labels", "--threads", "2"],
            logFile: temp.url.appendingPathComponent("recognize.log"), environment: environment)
        let notify = try ProcessRunner.start(
            try BuiltExecutable.url("notify-xml"),
            ["--home", home.path, "--gateway-url", "http://127.0.0.1:\(port)/messages", "--to", "ops@example.org"],
            logFile: temp.url.appendingPathComponent("notify.log"), environment: environment)
        let delivered = try await PipelineEndToEndTests.waitForFiles(in: outbox, count: photos.count, timeout: 180)
        for process in [recognize, notify, sink] { process.terminate() }
        for process in [recognize, notify, sink] { process.waitUntilExit() }
        await web.stop()
        #expect(delivered.count == photos.count)
        #expect(recognize.terminationStatus == 0 && notify.terminationStatus == 0)

        // The queues on PostgreSQL are drained; the file bus of the home was never used.
        let status = try ProcessRunner.run(
            try BuiltExecutable.url("bus-admin"), ["status", "--home", home.path, "--database", database, "--format", "json"])
        let queues = try PipelineEndToEndTests.queueStats(status.stdout)
        #expect(queues["recognize"]?.visible == 0 && queues["recognize"]?.inFlight == 0, "\(status.stdout)")
        #expect(queues["notify"]?.visible == 0 && queues["notify"]?.inFlight == 0)
        #expect(queues["archive.image.stored"]?.visible == photos.count, "the archive keeps every image.stored for replay")
        #expect(!FileManager.default.fileExists(atPath: home.appendingPathComponent("bus/queues").path))
        let unreachable = try ProcessRunner.run(
            try BuiltExecutable.url("bus-admin"), ["status", "--home", home.path, "--database", "postgres://nobody@127.0.0.1:1/none"])
        #expect(unreachable.status != 0 && unreachable.stderr.contains("cannot reach PostgreSQL"), "\(unreachable.stderr)")
    }
}
