import Foundation
import Imaging
import PipelineModel

/// JPEG thumbnails of stored images, made once per image and size by libvips and kept under
/// `<home>/thumbnails/<size>/<ab>/<id>.jpg` (images are content-addressed, so a thumbnail never
/// goes stale). Sizes are snapped to a few steps so clients cannot fill the disk with variants.
public struct ThumbnailCache: Sendable {
    /// Longer-side sizes kept; a request is answered with the smallest one at least as large.
    public static let sizes = [160, 320, 640]
    public static let defaultSize = 320
    public let root: URL
    private let limits: ImageLimits

    public init(home: PipelineHome, limits: ImageLimits = .default) {
        root = home.root.appendingPathComponent("thumbnails", isDirectory: true)
        self.limits = limits
    }

    /// The cached size used for a requested one.
    public static func snapped(_ requested: Int) -> Int {
        sizes.first { $0 >= requested } ?? sizes[sizes.count - 1]
    }

    /// The thumbnail of image `id` (stored at `source`) at `size` (already snapped): read from the
    /// cache, or made and written there (temporary file and rename, so readers never see half a file).
    public func thumbnail(id: String, source: URL, size: Int) throws -> Data {
        let file = root.appendingPathComponent("\(size)/\(id.prefix(2))/\(id).jpg")
        if let cached = try? Data(contentsOf: file) { return cached }
        let original = try Data(contentsOf: source)
        let jpeg = try Thumbnail.jpeg(original, maxSide: size, limits: limits)
        let directory = file.deletingLastPathComponent()
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let temporary = directory.appendingPathComponent(".\(id).\(UUID().uuidString).tmp")
        if (try? jpeg.write(to: temporary)) != nil {
            // A failed rename only loses the cache entry; the answer is the same.
            if rename(temporary.path, file.path) != 0 { try? FileManager.default.removeItem(at: temporary) }
        }
        return jpeg
    }
}
