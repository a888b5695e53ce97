/// Bounds on untrusted images, checked from the header before any pixel is decoded.
public struct ImageLimits: Sendable, Equatable {
    /// Largest width x height accepted.
    public var maxPixels: Int
    /// Largest file `Preprocessor.pixels(fromFile:)` and `ImageInspector.inspect(fileAt:)` read.
    public var maxFileBytes: Int

    /// Creates limits; the defaults admit any real photo (100 MP, 256 MiB).
    public init(maxPixels: Int = 100_000_000, maxFileBytes: Int = 256 << 20) {
        self.maxPixels = maxPixels
        self.maxFileBytes = maxFileBytes
    }

    /// 100 megapixels, 256 MiB files.
    public static let `default` = ImageLimits()
}
