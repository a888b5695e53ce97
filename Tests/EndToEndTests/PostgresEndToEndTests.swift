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

    /// Each worker with a home of its own, as on machines of their own: only the database is shared.
    struct Machines {
        let temp: TemporaryDirectory
        var fetcher: URL { temp.url.appendingPathComponent("fetcher-home") }
        var recognizer: URL { temp.url.appendingPathComponent("recognizer-home") }
        var notifier: URL { temp.url.appendingPathComponent("notifier-home") }
        var reader: URL { temp.url.appendingPathComponent("reader-home") }
        var outbox: URL { temp.url.appendingPathComponent("outbox") }
    }

    /// Serves the photos, starts the gateway (mail-sink) and fetches every photo into `database`.
    struct Fetched {
        let web: TestHTTPServer
        let sink: Process
        let port: String
    }

    static func fetched(_ photos: [String], into database: String, machines: Machines) async throws -> Fetched {
        let web = try await TestHTTPServer.started()
        for photo in photos {
            let bytes = try Data(contentsOf: Self.samples.appendingPathComponent(photo))
            await web.route("/\(photo)") { _ in TestResponses.ok(bytes, contentType: "image/jpeg") }
        }
        let portFile = machines.temp.url.appendingPathComponent("sink.port")
        let sink = try ProcessRunner.start(
            try BuiltExecutable.url("mail-sink"), ["--port", "0", "--port-file", portFile.path, "--outbox", machines.outbox.path],
            logFile: machines.temp.url.appendingPathComponent("sink.log"))
        let port = try await PipelineEndToEndTests.waitForContents(of: portFile)
        // The environment variable selects the database for every worker, as the flag does.
        let fetch = try await ProcessRunner.run(
            try BuiltExecutable.url("fetch-image"), ["--home", machines.fetcher.path, "--allow-private"] + photos.map { web.url("/\($0)") },
            environment: [DatabaseVariable.name: database])
        #expect(fetch.status == 0, "\(fetch.stdout)\n\(fetch.stderr)")
        return Fetched(web: web, sink: sink, port: port)
    }

    enum DatabaseVariable { static let name = "IMAGE_PIPELINE_DATABASE_URL" }

    static func recognizer(_ database: String, machines: Machines, log: String) throws -> Process {
        try ProcessRunner.start(
            try BuiltExecutable.url("recognize"), ["run", "--home", machines.recognizer.path, "--features", "labels", "--threads", "1"],
            logFile: machines.temp.url.appendingPathComponent(log), environment: [DatabaseVariable.name: database])
    }

    static func notifier(_ database: String, machines: Machines, port: String) throws -> Process {
        try ProcessRunner.start(
            try BuiltExecutable.url("notify-xml"),
            ["--home", machines.notifier.path, "--gateway-url", "http://127.0.0.1:\(port)/messages", "--to", "ops@example.org"],
            logFile: machines.temp.url.appendingPathComponent("notify.log"), environment: [DatabaseVariable.name: database])
    }

    /// The images list-images reads from the shared label store, from a home that holds nothing.
    static func listed(_ database: String, machines: Machines) throws -> [[String: Any]] {
        let list = try ProcessRunner.run(
            try BuiltExecutable.url("list-images"), ["--home", machines.reader.path, "--database", database, "--format", "json", "--limit", "100"])
        #expect(list.status == 0, "\(list.stderr)")
        return (try? JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]]) ?? []
    }

    @Test("photos fetched, labelled and notified once each, each worker in a home of its own sharing only PostgreSQL", .enabled(if: server != nil))
    func samplePhotosThroughPostgres() async throws {
        let database = try Self.freshDatabase()
        let machines = Machines(temp: try TemporaryDirectory("e2e-pg"))
        defer { machines.temp.remove() }
        let photos = ["cat.jpg", "coffee.jpg", "rocket.jpg"]
        let fetched = try await Self.fetched(photos, into: database, machines: machines)
        let (web, sink, port) = (fetched.web, fetched.sink, fetched.port)
        let recognize = try Self.recognizer(database, machines: machines, log: "recognize.log")
        let notify = try Self.notifier(database, machines: machines, port: port)
        let delivered = try await PipelineEndToEndTests.waitForFiles(in: machines.outbox, count: photos.count, timeout: 180)
        for process in [recognize, notify, sink] { process.terminate() }
        for process in [recognize, notify, sink] { process.waitUntilExit() }
        await web.stop()
        #expect(delivered.count == photos.count)
        #expect(recognize.terminationStatus == 0 && notify.terminationStatus == 0)

        // The queues on PostgreSQL are drained; the file bus of the home was never used.
        let status = try await ProcessRunner.run(
            try BuiltExecutable.url("bus-admin"), ["status", "--home", machines.reader.path, "--database", database, "--format", "json"])
        let queues = try PipelineEndToEndTests.queueStats(status.stdout)
        #expect(queues["recognize"]?.visible == 0 && queues["recognize"]?.inFlight == 0, "\(status.stdout)")
        #expect(queues["notify"]?.visible == 0 && queues["notify"]?.inFlight == 0)
        #expect(queues["archive.image.stored"]?.visible == photos.count, "the archive keeps every image.stored for replay")
        #expect(!FileManager.default.fileExists(atPath: machines.fetcher.appendingPathComponent("bus/queues").path))

        // The images' bytes went to the database, not the fetcher's disk; labels and notification
        // times to the shared label store, which list-images reads from an empty home.
        #expect(FileTree.files(under: machines.fetcher.appendingPathComponent("images")).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: machines.recognizer.appendingPathComponent("labels.sqlite").path))
        let listed = try Self.listed(database, machines: machines)
        #expect(listed.count == photos.count)
        #expect(listed.allSatisfy { ($0["stored_path"] as? String)?.hasPrefix("postgres:") == true && $0["notified_at"] is String }, "\(listed)")
        #expect(listed.allSatisfy { !(($0["labels"] as? [Any]) ?? []).isEmpty })

        let unreachable = try await ProcessRunner.run(
            try BuiltExecutable.url("bus-admin"), ["status", "--home", machines.reader.path, "--database", "postgres://nobody@127.0.0.1:1/none"])
        #expect(unreachable.status != 0 && unreachable.stderr.contains("cannot reach PostgreSQL"), "\(unreachable.stderr)")
        let unreachableList = try await ProcessRunner.run(
            try BuiltExecutable.url("list-images"), ["--home", machines.reader.path, "--database", "postgres://nobody@127.0.0.1:1/none"])
        #expect(unreachableList.status != 0 && unreachableList.stderr.contains("cannot reach PostgreSQL"), "\(unreachableList.stderr)")
    }

    static func stopCluster(_ script: URL, _ cluster: URL) {
        _ = try? clusterCommand(script, "stop", cluster)
    }

    /// Runs Scripts/postgres-cluster, its output through a file, reaping it here: Foundation's
    /// Process was seen not to notice this script's exit (a zombie, `isRunning` true for ever)
    /// once the server it starts had daemonized.
    static func clusterCommand(_ script: URL, _ command: String, _ cluster: URL) throws -> (status: Int32, output: String) {
        let output = cluster.deletingLastPathComponent().appendingPathComponent("cluster-\(command).out")
        var pid: pid_t = 0
        let arguments = ["/bin/sh", "-c", "exec \"$0\" \"$1\" \"$2\" >\"$3\" 2>&1 </dev/null", script.path, command, cluster.path, output.path]
        var argv = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let spawned = posix_spawn(&pid, "/bin/sh", nil, nil, &argv, environ)
        guard spawned == 0 else { throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .EIO) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (exit, (try? String(contentsOf: output, encoding: .utf8)) ?? "")
    }

    @Test(
        "a recognizer killed mid-run and the database restarted mid-run: every photo labelled once and notified once",
        .enabled(if: server != nil))
    func faultsThroughPostgres() async throws {
        // A cluster of its own: restarting the shared one would disturb the other tests.
        let machines = Machines(temp: try TemporaryDirectory("e2e-pg-faults"))
        defer { machines.temp.remove() }
        let cluster = machines.temp.url.appendingPathComponent("cluster")
        let script = BuiltExecutable.projectRoot().appendingPathComponent("Scripts/postgres-cluster")
        try FileManager.default.createDirectory(at: cluster, withIntermediateDirectories: true)
        let started = try Self.clusterCommand(script, "start", cluster)
        #expect(started.status == 0, "\(started.output)")
        guard started.status == 0 else { return }
        defer { Self.stopCluster(script, cluster) }
        let database = started.output.trimmingCharacters(in: .whitespacesAndNewlines)

        let photos = ["cat.jpg", "coffee.jpg", "rocket.jpg", "astronaut.jpg", "camera.jpg", "grace-hopper.jpg"]
        let fetched = try await Self.fetched(photos, into: database, machines: machines)
        let (web, sink, port) = (fetched.web, fetched.sink, fetched.port)
        let doomed = try Self.recognizer(database, machines: machines, log: "recognize-killed.log")
        let survivor = try Self.recognizer(database, machines: machines, log: "recognize.log")
        let notify = try Self.notifier(database, machines: machines, port: port)
        // Kill one recognizer as soon as anything is delivered (it may hold messages mid-batch),
        // then take the database away for a few seconds under the others.
        _ = try await PipelineEndToEndTests.waitForFiles(in: machines.outbox, count: 1, timeout: 180)
        _ = try await ProcessRunner.run(URL(fileURLWithPath: "/bin/kill"), ["-KILL", "\(doomed.processIdentifier)"])
        doomed.waitUntilExit()
        let stopped = try Self.clusterCommand(script, "stop", cluster)
        #expect(stopped.status == 0, "\(stopped.output)")
        try await Task.sleep(for: .seconds(3))
        let resumed = try Self.clusterCommand(script, "resume", cluster)
        #expect(resumed.status == 0, "\(resumed.output)")

        let delivered = try await PipelineEndToEndTests.waitForFiles(in: machines.outbox, count: photos.count, timeout: 240)
        // Time for a doubled delivery to show up, were there one.
        try await Task.sleep(for: .seconds(3))
        let outboxFiles = FileTree.files(under: machines.outbox)
        for process in [survivor, notify, sink] { process.terminate() }
        for process in [survivor, notify, sink] { process.waitUntilExit() }
        await web.stop()
        #expect(delivered.count == photos.count)
        #expect(outboxFiles.count == photos.count, "one notification per photo, none doubled: \(outboxFiles.map { $0.lastPathComponent })")
        #expect(survivor.terminationStatus == 0 && notify.terminationStatus == 0, "the workers rode out the restart")
        let listed = try Self.listed(database, machines: machines)
        #expect(listed.count == photos.count)
        #expect(listed.allSatisfy { $0["notified_at"] is String }, "\(listed)")
        let check = try await ProcessRunner.run(
            try BuiltExecutable.url("list-images"), ["check", "--home", machines.reader.path, "--database", database])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
    }
}
