import Foundation

/// A point in pixels.
struct PlanePoint: Equatable {
    var x: Double
    var y: Double

    static func + (a: PlanePoint, b: PlanePoint) -> PlanePoint { PlanePoint(x: a.x + b.x, y: a.y + b.y) }
    static func - (a: PlanePoint, b: PlanePoint) -> PlanePoint { PlanePoint(x: a.x - b.x, y: a.y - b.y) }
    static func * (a: PlanePoint, s: Double) -> PlanePoint { PlanePoint(x: a.x * s, y: a.y * s) }
    func dot(_ other: PlanePoint) -> Double { x * other.x + y * other.y }
    var length: Double { (x * x + y * y).squareRoot() }
}

/// A rectangle at any angle: its centre, the unit vector along its width (the reading direction,
/// pointing right: x >= 0) and the width and height along that axis and its normal (pointing down).
struct RotatedBox: Equatable {
    var center: PlanePoint
    var axis: PlanePoint
    var width: Double
    var height: Double

    /// The unit normal, pointing down the image.
    var normal: PlanePoint { PlanePoint(x: -axis.y, y: axis.x) }

    /// Top-left, top-right, bottom-right, bottom-left, as the text reads.
    var corners: [PlanePoint] {
        let (u, v) = (axis * (width / 2), normal * (height / 2))
        return [center - u - v, center + u - v, center + u + v, center - u + v]
    }

    /// Grown by `distance` on every side (DB's unclip of a rectangle: the text region the network
    /// marks is shrunk from the real text by about this much).
    func expanded(by distance: Double) -> RotatedBox {
        RotatedBox(center: center, axis: axis, width: width + 2 * distance, height: height + 2 * distance)
    }

    /// The same box in coordinates scaled by `factor`.
    func scaled(by factor: Double) -> RotatedBox {
        RotatedBox(center: center * factor, axis: axis, width: width * factor, height: height * factor)
    }

    /// Turned by 180 degrees (text read upside down): the same rectangle, its corners in the other order.
    var turned: RotatedBox { RotatedBox(center: center, axis: axis * -1, width: width, height: height) }
}

/// Text regions from a detector's probability map: connected regions above a threshold, their
/// minimum-area rotated rectangles (PaddleOCR's DB post-processing, written from its description).
enum TextGeometry {
    /// One 8-connected region of the map: per row its leftmost and rightmost pixel, its pixel count
    /// and the mean probability over its pixels.
    struct Region {
        var rows: [(y: Int, minX: Int, maxX: Int)]
        var pixels: Int
        var meanScore: Double
    }

    /// The regions of `map` (width x height, row-major) above `threshold`, each with at least `minPixels` pixels.
    static func regions(_ map: UnsafeBufferPointer<Float>, width: Int, height: Int, threshold: Float, minPixels: Int) -> [Region] {
        var visited = [Bool](repeating: false, count: width * height)
        var regions: [Region] = []
        var stack: [Int] = []
        for start in 0..<(width * height) where !visited[start] && map[start] > threshold {
            visited[start] = true
            stack.append(start)
            var extremes: [Int: (Int, Int)] = [:]
            var (count, sum) = (0, 0.0)
            while let index = stack.popLast() {
                let (x, y) = (index % width, index / width)
                count += 1
                sum += Double(map[index])
                if let (low, high) = extremes[y] { extremes[y] = (min(low, x), max(high, x)) } else { extremes[y] = (x, x) }
                for dy in -1...1 {
                    let ny = y + dy
                    guard ny >= 0, ny < height else { continue }
                    for dx in -1...1 {
                        let nx = x + dx
                        guard nx >= 0, nx < width else { continue }
                        let neighbour = ny * width + nx
                        if !visited[neighbour] && map[neighbour] > threshold {
                            visited[neighbour] = true
                            stack.append(neighbour)
                        }
                    }
                }
            }
            guard count >= minPixels else { continue }
            let rows = extremes.map { (y: $0.key, minX: $0.value.0, maxX: $0.value.1) }.sorted { $0.y < $1.y }
            regions.append(Region(rows: rows, pixels: count, meanScore: sum / Double(count)))
        }
        return regions
    }

    /// The corners of a region's pixels that can lie on its convex hull (each row's outer pixel corners).
    static func outline(_ region: Region) -> [PlanePoint] {
        region.rows.flatMap { row in
            let (left, right, top, bottom) = (Double(row.minX), Double(row.maxX + 1), Double(row.y), Double(row.y + 1))
            return [PlanePoint(x: left, y: top), PlanePoint(x: left, y: bottom), PlanePoint(x: right, y: top), PlanePoint(x: right, y: bottom)]
        }
    }

    /// The convex hull (Andrew's monotone chain), counter-clockwise in image coordinates.
    static func convexHull(_ points: [PlanePoint]) -> [PlanePoint] {
        let sorted = points.sorted { $0.x != $1.x ? $0.x < $1.x : $0.y < $1.y }
        guard sorted.count > 2 else { return sorted }
        func cross(_ o: PlanePoint, _ a: PlanePoint, _ b: PlanePoint) -> Double { (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x) }
        var lower: [PlanePoint] = []
        for point in sorted {
            while lower.count >= 2 && cross(lower[lower.count - 2], lower[lower.count - 1], point) <= 0 { lower.removeLast() }
            lower.append(point)
        }
        var upper: [PlanePoint] = []
        for point in sorted.reversed() {
            while upper.count >= 2 && cross(upper[upper.count - 2], upper[upper.count - 1], point) <= 0 { upper.removeLast() }
            upper.append(point)
        }
        return Array(lower.dropLast() + upper.dropLast())
    }

    /// The smallest rectangle around `hull` (one of its sides lies on a hull edge), its axis the side
    /// closest to horizontal.
    static func minimumAreaBox(_ hull: [PlanePoint]) -> RotatedBox? {
        guard hull.count >= 3 else { return nil }
        var best: (area: Double, box: RotatedBox)?
        for index in hull.indices {
            let edge = hull[(index + 1) % hull.count] - hull[index]
            let length = edge.length
            guard length > 0 else { continue }
            let u = edge * (1 / length)
            let v = PlanePoint(x: -u.y, y: u.x)
            var (minU, maxU, minV, maxV) = (Double.infinity, -Double.infinity, Double.infinity, -Double.infinity)
            for point in hull {
                let (a, b) = (point.dot(u), point.dot(v))
                (minU, maxU, minV, maxV) = (min(minU, a), max(maxU, a), min(minV, b), max(maxV, b))
            }
            let area = (maxU - minU) * (maxV - minV)
            if best == nil || area < best!.area {
                let center = u * ((minU + maxU) / 2) + v * ((minV + maxV) / 2)
                best = (area, oriented(center: center, u: u, along: maxU - minU, across: maxV - minV))
            }
        }
        return best?.box
    }

    /// A box whose axis is the one of (u, its normal) closest to horizontal, pointing right.
    static func oriented(center: PlanePoint, u: PlanePoint, along: Double, across: Double) -> RotatedBox {
        var (axis, width, height) = (u, along, across)
        if abs(u.y) > abs(u.x) { (axis, width, height) = (PlanePoint(x: -u.y, y: u.x), across, along) }
        if axis.x < 0 || (axis.x == 0 && axis.y < 0) { axis = axis * -1 }
        return RotatedBox(center: center, axis: axis, width: width, height: height)
    }

    /// Reading order: top to bottom, and left to right for boxes whose centres are within half a line's height.
    static func readingOrder(_ boxes: [RotatedBox]) -> [Int] {
        let sorted = boxes.indices.sorted { boxes[$0].center.y < boxes[$1].center.y }
        var lines: [[Int]] = []
        for index in sorted {
            if let last = lines.last?.last, abs(boxes[index].center.y - boxes[last].center.y) < min(boxes[index].height, boxes[last].height) / 2 {
                lines[lines.count - 1].append(index)
            } else {
                lines.append([index])
            }
        }
        return lines.flatMap { $0.sorted { boxes[$0].center.x < boxes[$1].center.x } }
    }
}
