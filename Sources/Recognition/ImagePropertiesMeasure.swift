import Foundation
import PipelineModel

/// Brightness, contrast, sharpness and dominant colours of an RGB image (HWC bytes), measured
/// in one pass over the pixels plus one over the luminance.
public enum ImagePropertiesMeasure {
    /// Laplacian variance at which sharpness reads 50: about an ordinary, in-focus photo scaled
    /// to the classifier's 224x224 input; a sharp one reads 70-90, a visibly blurred one under 20.
    static let sharpnessMidpoint = 300.0
    /// Colours smaller than this share (percent) are not reported.
    static let minimumShare = 1.0
    /// Bins closer than this (CIE76 ΔE) to a colour already found merge into it.
    static let mergeDistance = 20.0

    /// Measures `pixels` (`width` x `height` x 3 RGB bytes).
    public static func measure(_ pixels: [UInt8], width: Int, height: Int, maxColors: Int = 10) -> ImageProperties {
        let count = width * height
        precondition(pixels.count == count * 3 && count > 0, "pixels must be width x height RGB bytes")
        var luma = [Double](repeating: 0, count: count)
        // 4 bits per channel: 4096 bins, each with its pixel count and colour sums.
        var binCount = [Int](repeating: 0, count: 4096)
        var binSum = [Double](repeating: 0, count: 4096 * 3)
        var lumaSum = 0.0
        pixels.withUnsafeBufferPointer { rgb in
            for index in 0..<count {
                let r = rgb[3 * index]
                let g = rgb[3 * index + 1]
                let b = rgb[3 * index + 2]
                let y = 0.299 * Double(r) + 0.587 * Double(g) + 0.114 * Double(b)  // Rec. 601 luma
                luma[index] = y
                lumaSum += y
                let bin = Int(r >> 4) << 8 | Int(g >> 4) << 4 | Int(b >> 4)
                binCount[bin] += 1
                binSum[3 * bin] += Double(r)
                binSum[3 * bin + 1] += Double(g)
                binSum[3 * bin + 2] += Double(b)
            }
        }
        let mean = lumaSum / Double(count)
        let variance = luma.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(count)
        return ImageProperties(
            brightness: rounded(mean / 255 * 100),
            contrast: rounded(min(100, variance.squareRoot() / 127.5 * 100)),
            sharpness: rounded(sharpness(luma, width: width, height: height)),
            colors: dominantColors(binCount: binCount, binSum: binSum, total: count, maxColors: maxColors))
    }

    /// 100 · v / (v + midpoint) of the variance v of the 4-neighbour Laplacian (interior pixels).
    static func sharpness(_ luma: [Double], width: Int, height: Int) -> Double {
        guard width >= 3, height >= 3 else { return 0 }
        var sum = 0.0
        var sumSquares = 0.0
        for y in 1..<(height - 1) {
            for x in 1..<(width - 1) {
                let i = y * width + x
                let laplacian = luma[i - 1] + luma[i + 1] + luma[i - width] + luma[i + width] - 4 * luma[i]
                sum += laplacian
                sumSquares += laplacian * laplacian
            }
        }
        let n = Double((width - 2) * (height - 2))
        let variance = max(0, sumSquares / n - (sum / n) * (sum / n))
        return 100 * variance / (variance + sharpnessMidpoint)
    }

    /// Bins taken largest first; each joins the first colour within `mergeDistance` in Lab, or
    /// starts a new one. A colour's value is the mean of its pixels.
    static func dominantColors(binCount: [Int], binSum: [Double], total: Int, maxColors: Int) -> [DominantColor] {
        struct Cluster {
            var count: Int
            var sum: (Double, Double, Double)
            var lab: (Double, Double, Double)
        }
        var clusters: [Cluster] = []
        let bins = binCount.indices.filter { binCount[$0] > 0 }.sorted { binCount[$0] > binCount[$1] }
        for bin in bins {
            let n = Double(binCount[bin])
            let color = (binSum[3 * bin] / n, binSum[3 * bin + 1] / n, binSum[3 * bin + 2] / n)
            let lab = Lab.from(color)
            if let nearest = clusters.indices.min(by: { Lab.distance(clusters[$0].lab, lab) < Lab.distance(clusters[$1].lab, lab) }),
                Lab.distance(clusters[nearest].lab, lab) < mergeDistance || clusters.count >= 64
            {
                clusters[nearest].count += binCount[bin]
                clusters[nearest].sum.0 += binSum[3 * bin]
                clusters[nearest].sum.1 += binSum[3 * bin + 1]
                clusters[nearest].sum.2 += binSum[3 * bin + 2]
            } else {
                clusters.append(Cluster(count: binCount[bin], sum: (binSum[3 * bin], binSum[3 * bin + 1], binSum[3 * bin + 2]), lab: lab))
            }
        }
        return clusters.sorted { $0.count > $1.count }.prefix(maxColors).compactMap { cluster in
            let share = rounded(Double(cluster.count) / Double(total) * 100)
            guard share >= minimumShare else { return nil }
            let n = Double(cluster.count)
            let rgb = (cluster.sum.0 / n, cluster.sum.1 / n, cluster.sum.2 / n)
            return DominantColor(hex: hex(rgb), cssName: cssName(rgb), simpleName: simpleName(rgb), share: share)
        }
    }

    static func hex(_ rgb: (Double, Double, Double)) -> String {
        func byte(_ value: Double) -> String {
            let text = String(Int(min(255, max(0, value.rounded()))), radix: 16)
            return text.count == 1 ? "0" + text : text
        }
        return "#" + byte(rgb.0) + byte(rgb.1) + byte(rgb.2)
    }

    /// The CSS named colour nearest in Lab.
    static func cssName(_ rgb: (Double, Double, Double)) -> String {
        let lab = Lab.from(rgb)
        return cssLab.min { Lab.distance($0.lab, lab) < Lab.distance($1.lab, lab) }?.name ?? "black"
    }

    private static let cssLab: [(name: String, lab: (Double, Double, Double))] = CSSColors.all.map { entry in
        (entry.name, Lab.from((Double(entry.rgb >> 16 & 0xFF), Double(entry.rgb >> 8 & 0xFF), Double(entry.rgb & 0xFF))))
    }

    /// One of the 11 basic colour words, from hue, saturation and value.
    static func simpleName(_ rgb: (Double, Double, Double)) -> String {
        let r = rgb.0 / 255
        let g = rgb.1 / 255
        let b = rgb.2 / 255
        let maximum = max(r, g, b)
        let minimum = min(r, g, b)
        let chroma = maximum - minimum
        let value = maximum
        let saturation = maximum == 0 ? 0 : chroma / maximum
        if value < 0.18 { return "black" }
        if saturation < 0.15 || chroma < 0.08 {
            if value > 0.85 { return "white" }
            return value < 0.25 ? "black" : "gray"
        }
        var hue: Double
        if maximum == r {
            hue = 60 * ((g - b) / chroma).truncatingRemainder(dividingBy: 6)
        } else if maximum == g {
            hue = 60 * ((b - r) / chroma + 2)
        } else {
            hue = 60 * ((r - g) / chroma + 4)
        }
        if hue < 0 { hue += 360 }
        switch hue {
        case ..<15, 345...:
            if saturation < 0.5 && value > 0.7 { return "pink" }
            return value < 0.45 ? "brown" : "red"
        case ..<45:
            // Dark or greyish orange is what people call brown (wood, leather, tan fur).
            return value < 0.6 || saturation < 0.45 ? "brown" : "orange"
        case ..<70:
            return value < 0.5 ? "brown" : "yellow"
        case ..<170:
            return "green"
        case ..<260:
            return "blue"
        case ..<290:
            return "purple"
        default:
            return value > 0.6 && saturation < 0.8 ? "pink" : "purple"
        }
    }

    static func rounded(_ value: Double) -> Double { (value * 10).rounded() / 10 }
}

/// CIE L*a*b* (D65) from sRGB bytes, for colour distances that follow perception roughly.
enum Lab {
    static func from(_ rgb: (Double, Double, Double)) -> (Double, Double, Double) {
        func linear(_ byte: Double) -> Double {
            let c = byte / 255
            return c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4)
        }
        let (r, g, b) = (linear(rgb.0), linear(rgb.1), linear(rgb.2))
        let x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
        let y = 0.2126 * r + 0.7152 * g + 0.0722 * b
        let z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883
        func f(_ t: Double) -> Double { t > 0.008856 ? cbrt(t) : 7.787 * t + 16.0 / 116 }
        let (fx, fy, fz) = (f(x), f(y), f(z))
        return (116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz))
    }

    static func distance(_ a: (Double, Double, Double), _ b: (Double, Double, Double)) -> Double {
        ((a.0 - b.0) * (a.0 - b.0) + (a.1 - b.1) * (a.1 - b.1) + (a.2 - b.2) * (a.2 - b.2)).squareRoot()
    }
}
