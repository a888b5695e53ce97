import Foundation
import Imaging
import ImagingTestSupport
import Testing

/// Paths and generated images shared by the Imaging tests.
enum TestImages {
    /// The repository root, found from this file's location.
    static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func badFixture(_ name: String) throws -> Data {
        try Data(contentsOf: repositoryRoot.appendingPathComponent("Tests/Fixtures/bad/\(name)"))
    }

    /// 320x240 picture: left half red, right half blue, a green square in the top-left corner.
    /// Its quadrants make rotations and flips visible after a centre crop.
    static func landmarks(width: Int = 320, height: Int = 240) -> Raster {
        var samples = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let index = (y * width + x) * 3
                let colour: [UInt8]
                if x < width / 4 && y < height / 4 {
                    colour = [0, 255, 0]
                } else if x < width / 2 {
                    colour = [255, 0, 0]
                } else {
                    colour = [0, 0, 255]
                }
                samples.replaceSubrange(index..<index + 3, with: colour)
            }
        }
        return Raster(width: width, height: height, bands: 3, samples: samples)
    }

    /// A unique empty directory, removed by the caller's `defer`.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("imaging-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// RGB of pixel (x, y) in HWC bytes of the given width.
func rgb(_ pixels: [UInt8], width: Int, x: Int, y: Int) -> [Int] {
    let index = (y * width + x) * 3
    return pixels[index..<index + 3].map(Int.init)
}

/// True when every channel is within `tolerance` of `expected`.
func near(_ actual: [Int], _ expected: [Int], tolerance: Int = 40) -> Bool {
    zip(actual, expected).allSatisfy { abs($0 - $1) <= tolerance }
}
