import Foundation
import TestSupport
import Testing

/// Scripts/multihost: PostgreSQL, two recognizers and the fetcher with the notifier on four
/// network namespaces linked only to the database host, with a recognizer killed, a link cut
/// and the notifier killed. Needs root, iproute2 and PostgreSQL (Scripts/setup installs both).
@Suite("Several hosts (network namespaces)", .serialized)
struct MultiHostTests {
    static let possible =
        getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip")
        && FileManager.default.fileExists(atPath: "/usr/bin/psql")

    @Test("every image labelled once and notified once across four hosts, with kills and a cut link", .enabled(if: possible))
    func fourHostsLoseNothing() async throws {
        _ = try BuiltExecutable.url("recognize")  // clear error if the executables were not built
        let run = try await ProcessRunner.run(
            URL(fileURLWithPath: "/bin/bash"),
            [BuiltExecutable.projectRoot().appendingPathComponent("Scripts/multihost").path, "--bin", BuiltExecutable.directory.path],
            timeout: 900)
        let summary = run.stdout.split(separator: "\n").last { $0.hasPrefix("multihost: images=") } ?? "no summary line"
        #expect(run.status == 0, "\(summary)\n\(run.stderr.suffix(4000))")
        #expect(summary.contains("result=PASS") && summary.contains("inflight=0") && summary.contains("dead=0"), "\(summary)")
    }
}
