import Imaging

/// Builds `ImageLimits` from the command line.
enum ImageLimitsFactory {
    static func make(maxPixels: Int) -> ImageLimits {
        var limits = ImageLimits.default
        limits.maxPixels = maxPixels
        return limits
    }
}
