import Foundation
import TestSupport
import Testing

/// libvips' own warnings about a damaged file reach the user in the tool's log format.
@Suite("libvips warnings")
struct LibvipsWarningTests {
    @Test("recognize classify on a damaged PNG: a clear error, warnings as log lines, no raw VIPS-WARNING")
    func warningsAreLogLines() throws {
        let corrupt = BuiltExecutable.projectRoot().appendingPathComponent("Tests/Fixtures/bad/corrupt.png")
        let result = try ProcessRunner.run(
            try BuiltExecutable.url("recognize"),
            ["classify", "--threads", "1", "--log-format", "json", corrupt.path])
        #expect(result.status == 1)
        #expect(result.stderr.contains("corrupt PNG image"), "\(result.stderr)")
        #expect(!result.stderr.contains("VIPS-WARNING"), "\(result.stderr)")
        let warnings = result.stderr.split(separator: "\n").filter { $0.contains("\"library\":\"libvips\"") }
        #expect(!warnings.isEmpty, "libvips' warning should be a JSON log line: \(result.stderr)")
        for line in warnings {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["level"] as? String == "warning")
        }
    }
}
