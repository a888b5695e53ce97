import Foundation
import TestSupport
import Testing

/// Scripts/chaos in its short mode: the real pipeline under the supervisor while workers are
/// SIGKILLed and SIGTERMed and the gateway fails; it checks that nothing is lost or duplicated.
/// Once on the home's files, once on PostgreSQL when the tests have a server.
@Suite("Chaos, short mode", .serialized)
struct ChaosTests {
    @Test("killing workers and failing the gateway loses nothing")
    func shortChaosRunLosesNothing() async throws {
        try await Self.runShortChaos(extraArguments: [])
    }

    @Test(
        "on PostgreSQL (bus, label store, image store): killing workers and failing the gateway loses nothing",
        .enabled(if: PostgresEndToEndTests.server != nil))
    func shortChaosRunOnPostgresLosesNothing() async throws {
        try await Self.runShortChaos(extraArguments: ["--database", try PostgresEndToEndTests.freshDatabase()])
    }

    static func runShortChaos(extraArguments: [String]) async throws {
        let root = BuiltExecutable.projectRoot()
        let temp = try TemporaryDirectory("chaos")
        defer { temp.remove() }
        _ = try BuiltExecutable.url("recognize")  // clear error if the executables were not built
        let run = try await ProcessRunner.run(
            URL(fileURLWithPath: "/bin/bash"),
            [
                root.appendingPathComponent("Scripts/chaos").path, "--short",
                "--bin", BuiltExecutable.directory.path, "--home", temp.url.appendingPathComponent("home").path,
            ] + extraArguments, timeout: 600)
        let summary = run.stdout.split(separator: "\n").last { $0.hasPrefix("chaos: images=") } ?? "no summary line"
        #expect(run.status == 0, "\(summary)\n\(run.stdout.suffix(3000))\n\(run.stderr.suffix(3000))")
        #expect(summary.contains("result=PASS"))
        #expect(summary.contains("inflight=0") && summary.contains("dead=0") && summary.contains("tmp=0"))
    }
}
