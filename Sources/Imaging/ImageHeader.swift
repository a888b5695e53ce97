/// What an image's header says, read without decoding its pixels.
public struct ImageHeader: Sendable, Equatable, Codable {
    /// The container format, from magic bytes and the libvips loader that accepted it.
    public var format: ImageFormat
    /// Width in pixels as stored (before EXIF rotation).
    public var width: Int
    /// Height in pixels as stored (before EXIF rotation).
    public var height: Int
    /// Bands per pixel: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA or CMYK.
    public var bands: Int
    /// The MIME type matching `format`.
    public var mimeType: String
    /// EXIF orientation 1-8 (1 = upright); 5-8 swap width and height when displayed.
    public var orientation: Int

    /// Creates a header; `mimeType` defaults to the format's.
    public init(format: ImageFormat, width: Int, height: Int, bands: Int, mimeType: String? = nil, orientation: Int = 1) {
        self.format = format
        self.width = width
        self.height = height
        self.bands = bands
        self.mimeType = mimeType ?? format.mimeType
        self.orientation = orientation
    }

    /// Width x height as displayed, after EXIF auto-rotation.
    public var uprightSize: (width: Int, height: Int) {
        (5...8).contains(orientation) ? (height, width) : (width, height)
    }
}
