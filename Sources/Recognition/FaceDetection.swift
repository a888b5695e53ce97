import Foundation

/// A face candidate in some frame's 0-1 coordinates: box corners, the six keypoints, the score.
struct FaceCandidate: Sendable, Equatable {
    var xMin: Double
    var yMin: Double
    var xMax: Double
    var yMax: Double
    /// (x, y) per keypoint, in the model's order.
    var keypoints: [(x: Double, y: Double)]
    /// 0-1.
    var score: Double

    var area: Double { max(0, xMax - xMin) * max(0, yMax - yMin) }

    static func == (a: FaceCandidate, b: FaceCandidate) -> Bool {
        a.xMin == b.xMin && a.yMin == b.yMin && a.xMax == b.xMax && a.yMax == b.yMax && a.score == b.score
            && a.keypoints.map(\.x) == b.keypoints.map(\.x) && a.keypoints.map(\.y) == b.keypoints.map(\.y)
    }

    /// Intersection over union with another box.
    func overlap(_ other: FaceCandidate) -> Double {
        let width = min(xMax, other.xMax) - max(xMin, other.xMin)
        let height = min(yMax, other.yMax) - max(yMin, other.yMin)
        guard width > 0, height > 0 else { return 0 }
        let intersection = width * height
        return intersection / (area + other.area - intersection)
    }

    /// The same face in another frame: `x' = x * scaleX + offsetX` (and so for y).
    func mapped(scaleX: Double, scaleY: Double, offsetX: Double, offsetY: Double) -> FaceCandidate {
        FaceCandidate(
            xMin: xMin * scaleX + offsetX, yMin: yMin * scaleY + offsetY, xMax: xMax * scaleX + offsetX, yMax: yMax * scaleY + offsetY,
            keypoints: keypoints.map { ($0.x * scaleX + offsetX, $0.y * scaleY + offsetY) }, score: score)
    }
}

/// BlazeFace's output decoding, as MediaPipe's SSD anchor and tensors-to-detections calculators
/// define it, and its weighted non-maximum suppression.
enum FaceDecoding {
    /// Anchor centres (0-1) of an SSD layout with fixed-size anchors: consecutive layers of the
    /// same stride share one grid, each layer adding one anchor per cell (two when
    /// `interpolatedScaleAspectRatio` is 1, MediaPipe's extra in-between scale).
    static func anchors(inputSize: Int, strides: [Int], interpolatedScaleAspectRatio: Double) -> [(x: Double, y: Double)] {
        var centres: [(x: Double, y: Double)] = []
        var layer = 0
        while layer < strides.count {
            let stride = strides[layer]
            var perCell = 0
            while layer < strides.count, strides[layer] == stride {
                perCell += interpolatedScaleAspectRatio == 1 ? 2 : 1
                layer += 1
            }
            let cells = Int((Double(inputSize) / Double(stride)).rounded(.up))
            for y in 0..<cells {
                for x in 0..<cells {
                    let centre = ((Double(x) + 0.5) / Double(cells), (Double(y) + 0.5) / Double(cells))
                    centres += Array(repeating: centre, count: perCell)
                }
            }
        }
        return centres
    }

    /// Candidates over `minScore` from the raw outputs: per anchor 4 box values (centre offset in
    /// input pixels from the anchor, width, height) then (x, y) per keypoint; one logit per
    /// anchor, clamped to +-80 before the sigmoid (MediaPipe clamps at 100, which overflows in
    /// single precision). Boxes in the input square's 0-1 coordinates.
    static func candidates(
        boxes: [Float], scores: [Float], anchors: [(x: Double, y: Double)], inputSize: Int, keypoints: Int, minScore: Double
    ) -> [FaceCandidate] {
        let stride = 4 + 2 * keypoints
        guard boxes.count == anchors.count * stride, scores.count == anchors.count else { return [] }
        let size = Double(inputSize)
        var found: [FaceCandidate] = []
        for (index, anchor) in anchors.enumerated() {
            let logit = Double(min(max(scores[index], -80), 80))
            let score = 1 / (1 + exp(-logit))
            guard score >= minScore else { continue }
            let base = index * stride
            let centreX = Double(boxes[base]) / size + anchor.x
            let centreY = Double(boxes[base + 1]) / size + anchor.y
            let width = Double(boxes[base + 2]) / size
            let height = Double(boxes[base + 3]) / size
            guard width > 0, height > 0 else { continue }
            let points = (0..<keypoints).map { point in
                (Double(boxes[base + 4 + 2 * point]) / size + anchor.x, Double(boxes[base + 5 + 2 * point]) / size + anchor.y)
            }
            found.append(
                FaceCandidate(
                    xMin: centreX - width / 2, yMin: centreY - height / 2, xMax: centreX + width / 2, yMax: centreY + height / 2,
                    keypoints: points, score: score))
        }
        return found
    }

    /// MediaPipe's weighted non-maximum suppression: take the best candidate, gather every
    /// remaining one overlapping it by more than `threshold` (IoU), and report their
    /// score-weighted mean box and keypoints with the best score; repeat. The anchors of one
    /// face all fire together, and their mean is steadier than any single one.
    static func weightedSuppression(_ candidates: [FaceCandidate], threshold: Double = 0.3) -> [FaceCandidate] {
        var remaining = candidates.sorted { $0.score > $1.score }
        var kept: [FaceCandidate] = []
        while let best = remaining.first {
            let cluster = remaining.filter { $0.overlap(best) > threshold || $0 == best }
            remaining.removeAll { $0.overlap(best) > threshold || $0 == best }
            let total = cluster.reduce(0) { $0 + $1.score }
            func mean(_ value: (FaceCandidate) -> Double) -> Double { cluster.reduce(0) { $0 + value($1) * $1.score } / total }
            kept.append(
                FaceCandidate(
                    xMin: mean(\.xMin), yMin: mean(\.yMin), xMax: mean(\.xMax), yMax: mean(\.yMax),
                    keypoints: best.keypoints.indices.map { point in (mean { $0.keypoints[point].x }, mean { $0.keypoints[point].y }) },
                    score: best.score))
        }
        return kept
    }
}
