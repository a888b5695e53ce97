import Foundation
import Imaging
import Testing

/// Golden RGB crops written by Scripts/convert-model with pyvips doing the same libvips calls.
enum Golden {
    /// `Tests/Fixtures/golden`, or IMAGING_GOLDEN_DIR to check another set.
    static let directory: URL =
        ProcessInfo.processInfo.environment["IMAGING_GOLDEN_DIR"].map { URL(fileURLWithPath: $0) }
        ?? TestImages.repositoryRoot.appendingPathComponent("Tests/Fixtures/golden")

    /// (photo, golden .rgb) pairs: `<photo>.rgb` belongs to `Models/samples/<photo>`.
    static var pairs: [(photo: URL, rgb: URL)] {
        let samples = TestImages.repositoryRoot.appendingPathComponent("Models/samples")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".rgb") }.sorted().compactMap { name in
            let photo = samples.appendingPathComponent(String(name.dropLast(4)))
            guard FileManager.default.fileExists(atPath: photo.path) else { return nil }
            return (photo, directory.appendingPathComponent(name))
        }
    }
}

@Suite("Golden preprocessing")
struct GoldenTests {
    @Test(
        "Preprocessor reproduces the pyvips golden crops byte for byte",
        .enabled(if: !Golden.pairs.isEmpty, "no Tests/Fixtures/golden/*.rgb with a matching Models/samples photo"))
    func matchesGolden() throws {
        let preprocessor = Preprocessor(spec: .efficientNetLite0)
        for (photo, rgb) in Golden.pairs {
            let expected = [UInt8](try Data(contentsOf: rgb))
            let actual = try preprocessor.pixels(fromFile: photo.path)
            try #require(actual.count == expected.count, "\(photo.lastPathComponent): \(actual.count) vs \(expected.count) bytes")
            let maxDifference = zip(actual, expected).map { abs(Int($0) - Int($1)) }.max() ?? 0
            let differing = zip(actual, expected).filter { $0 != $1 }.count
            #expect(maxDifference == 0, "\(photo.lastPathComponent): \(differing) bytes differ, max |diff| \(maxDifference)")
        }
    }
}
