import Foundation

/// One image as a recognizer's analyzers see it: the stored file read once (within the size
/// limit), and each preparation an analyzer asks for (a network input made by a `Preprocessor`)
/// made once and shared by every analyzer asking for the same spec.
///
/// Why not one full-size decode shared by all: libvips decodes lazily, and for JPEG (most photos)
/// the cheapest decode is a shrink-on-load at the size the consumer needs; decoding a 12 MP photo
/// in full for a 224x224 classifier input would cost several times the classifier itself.
public final class AnalysisImage: @unchecked Sendable {
    /// Where the bytes came from.
    public let path: String
    /// The encoded image.
    public let data: Data

    private let lock = NSLock()
    private var prepared: [PreprocessSpec: Result<[UInt8], ImagingError>] = [:]
    private var derived: [String: any Sendable] = [:]
    private var fittings: [Int: Result<FittedImage, ImagingError>] = [:]

    /// An image from bytes already in memory.
    public init(data: Data, path: String) {
        self.data = data
        self.path = path
    }

    /// Reads the file at `path` whole (refusing files over `limits.maxFileBytes`).
    public static func open(_ path: String, limits: ImageLimits) throws(ImagingError) -> AnalysisImage {
        AnalysisImage(data: try ImageFile.read(path, limit: limits.maxFileBytes), path: path)
    }

    /// The image prepared by `preprocessor` (width x height x 3 RGB bytes), made on first use;
    /// concurrent callers with different specs prepare in parallel.
    public func pixels(with preprocessor: Preprocessor) throws(ImagingError) -> [UInt8] {
        // Keyed by geometry: the bytes do not depend on the normalisation, so models with the same
        // crop and different mean/std (the classifier and open_nsfw) share one decode.
        let key = preprocessor.spec.geometry
        if let done = lock.withLock({ prepared[key] }) { return try done.get() }
        let result = Result<[UInt8], ImagingError> { () throws(ImagingError) in try preprocessor.pixels(from: data) }
        lock.withLock { prepared[key] = result }
        return try result.get()
    }

    /// The whole upright image fitted inside `maxSide` x `maxSide` (never enlarged), made on
    /// first use and shared by every analyzer asking for that size.
    public func fitted(maxSide: Int, limits: ImageLimits) throws(ImagingError) -> FittedImage {
        if let done = lock.withLock({ fittings[maxSide] }) { return try done.get() }
        let result = Result<FittedImage, ImagingError> { () throws(ImagingError) in
            try FittedImage.decode(data, maxSide: maxSide, limits: limits)
        }
        lock.withLock { fittings[maxSide] = result }
        return try result.get()
    }

    /// Keeps a value one analyzer derived for another to reuse (a classifier's pooled features,
    /// so that the similarity analyzer does not run the network again).
    public func keep(_ value: any Sendable, for key: String) {
        lock.withLock { derived[key] = value }
    }

    /// A value kept under `key`, if it has that type.
    public func kept<T>(_ key: String, as type: T.Type = T.self) -> T? {
        lock.withLock { derived[key] as? T }
    }
}
