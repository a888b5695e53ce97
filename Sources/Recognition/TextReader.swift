import Foundation
import Imaging
import Inference
import Logging
import PipelineModel

/// What the text models' descriptor (Models/ppocrv5.json, written by Scripts/convert_ocr.py) says.
public struct TextModelDescriptor: Decodable, Sendable {
    public struct Detector: Decodable, Sendable {
        public var onnx: String
        /// The longest side the detector reads (larger images are scaled down).
        public var maxSide: Int
        /// Input sizes are padded up to a multiple of this.
        public var multiple: Int
        /// "BGR" when the network was trained on OpenCV's channel order.
        public var channels: String
        public var mean: [Float]
        public var std: [Float]
        /// Map values above this are text.
        public var threshold: Float
        /// A region's mean probability must reach this.
        public var boxThreshold: Double
        /// How far a region's box grows: area x ratio / perimeter.
        public var unclipRatio: Double
        /// Boxes with a shorter side (in map pixels) are dropped.
        public var minSize: Double
    }
    public struct Orientation: Decodable, Sendable {
        public var onnx: String
        public var width: Int
        public var height: Int
        /// A line is turned when the classifier says "180" at least this sure.
        public var threshold: Float
    }
    public struct Recognizer: Decodable, Sendable {
        public var onnx: String
        public var height: Int
        /// Line widths are padded up to a multiple of this (few input sizes, few sessions).
        public var widthMultiple: Int
        public var maxWidth: Int
        public var dictionary: String
        /// Lines read with a lower mean character probability are dropped.
        public var minConfidence: Double
    }
    public var name: String
    public var version: String
    public var detector: Detector
    public var orientation: Orientation
    public var recognizer: Recognizer
}

/// Reads the text in an image on the project's engine with PP-OCRv5: the detector's probability map
/// of the whole upright image, its regions as rotated boxes, each line cropped straight, turned when
/// upside down, recognized and CTC-decoded into a line and its words.
public final class TextReader: @unchecked Sendable {
    public let descriptor: TextModelDescriptor
    /// Class 0 is CTC's blank, then the dictionary's characters, then a space.
    let characters: [String]
    private let detector: SessionsBySize
    private let recognizer: SessionsBySize
    private let orientation: InferenceSession
    private let lock = NSLock()

    /// The bundled PP-OCRv5 mobile models.
    public static let defaultDescriptor = "ppocrv5.json"

    public init(descriptorURL: URL, threads: Int, logger: Logger = Logger(label: "text")) throws {
        let descriptor: TextModelDescriptor
        do {
            descriptor = try JSONDecoder().decode(TextModelDescriptor.self, from: Data(contentsOf: descriptorURL))
        } catch {
            throw RecognitionError.invalidDescriptor(path: descriptorURL.path, detail: "\(error)")
        }
        let directory = descriptorURL.deletingLastPathComponent()
        func load(_ name: String) throws -> ONNXModel { try ONNXModel(contentsOf: directory.appendingPathComponent(name)) }
        // One pool for the three models, which run one after another.
        let pool = try InferenceThreads(count: threads)
        // A detector session at 960 x 736 holds ~100 MB of activations: keep two sizes (portrait and landscape).
        detector = SessionsBySize(model: try load(descriptor.detector.onnx), pool: pool, capacity: 2, logger: logger)
        recognizer = SessionsBySize(model: try load(descriptor.recognizer.onnx), pool: pool, capacity: 6, logger: logger)
        orientation = try InferenceSession(
            model: try load(descriptor.orientation.onnx), batchSize: 1, pool: pool,
            inputSize: [3, descriptor.orientation.height, descriptor.orientation.width], logger: logger)
        let dictionaryURL = directory.appendingPathComponent(descriptor.recognizer.dictionary)
        guard let dictionary = try? String(contentsOf: dictionaryURL, encoding: .utf8) else {
            throw RecognitionError.invalidDescriptor(path: dictionaryURL.path, detail: "the character dictionary cannot be read")
        }
        characters =
            ["<blank>"] + dictionary.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { !$0.isEmpty }
            + [" "]
        guard descriptor.detector.mean.count == 3, descriptor.detector.std.count == 3, descriptor.detector.multiple > 0,
            descriptor.recognizer.widthMultiple > 0
        else {
            throw RecognitionError.invalidDescriptor(path: descriptorURL.path, detail: "the detector needs 3 means and 3 deviations")
        }
        self.descriptor = descriptor
    }

    /// The bundled models.
    public convenience init(threads: Int, logger: Logger = Logger(label: "text")) throws {
        try self.init(
            descriptorURL: ModelLocator.bundledModel(descriptor: Self.defaultDescriptor, environment: ProcessInfo.processInfo.environment),
            threads: threads, logger: logger)
    }

    public var model: ModelInfo { ModelInfo(name: descriptor.name, version: descriptor.version) }

    /// One line as read: its box (pixels of the image read), text, confidence 0-1, and for each character
    /// the fraction of the line's length where it starts and ends.
    struct ReadLine {
        var box: RotatedBox
        var text: String
        var confidence: Double
        var characters: [(character: String, start: Double, end: Double)]
    }

    /// The text in `image`: lines in reading order, each followed by its words, at most `maxWords`
    /// words (nil: no cap). Coordinates are 0-1 of the image.
    public func read(_ image: FittedImage, maxWords: Int? = nil) throws -> TextSection {
        let lines = try readLines(image)
        var detections: [TextDetection] = []
        var (nextID, words, truncated) = (0, 0, false)
        let (width, height) = (Double(image.width), Double(image.height))
        func place(_ corners: [PlanePoint]) -> (BoundingBox, [ImagePoint]) {
            let points = corners.map { ImagePoint(x: min(max($0.x / width, 0), 1), y: min(max($0.y / height, 0), 1)) }
            let (left, top) = (points.map(\.x).min() ?? 0, points.map(\.y).min() ?? 0)
            let (right, bottom) = (points.map(\.x).max() ?? 0, points.map(\.y).max() ?? 0)
            return (BoundingBox(left: left, top: top, width: right - left, height: bottom - top), points)
        }
        for line in lines {
            let lineWords = Self.words(of: line)
            if let maxWords, words + lineWords.count > maxWords {
                truncated = true
                break
            }
            let lineID = nextID
            nextID += 1
            let (box, polygon) = place(line.box.corners)
            detections.append(
                TextDetection(
                    id: lineID, type: .line, text: line.text, confidence: (line.confidence * 1000).rounded() / 10, parentId: nil, box: box,
                    polygon: polygon))
            for word in lineWords {
                let corners = line.box.corners
                let (from, to) = (word.start, word.end)
                // The word's stretch of the line along its reading direction.
                let top = [corners[0] + (corners[1] - corners[0]) * from, corners[0] + (corners[1] - corners[0]) * to]
                let bottom = [corners[3] + (corners[2] - corners[3]) * from, corners[3] + (corners[2] - corners[3]) * to]
                let (wordBox, wordPolygon) = place([top[0], top[1], bottom[1], bottom[0]])
                detections.append(
                    TextDetection(
                        id: nextID, type: .word, text: word.text, confidence: (word.confidence * 1000).rounded() / 10, parentId: lineID,
                        box: wordBox, polygon: wordPolygon))
                nextID += 1
            }
            words += lineWords.count
        }
        return TextSection(model: model, detections: detections, truncated: truncated)
    }

    /// A line's words: runs of characters between spaces, with their extent along the line and confidence.
    static func words(of line: ReadLine) -> [(text: String, confidence: Double, start: Double, end: Double)] {
        var words: [(text: String, confidence: Double, start: Double, end: Double)] = []
        var current: [(character: String, start: Double, end: Double)] = []
        func finish() {
            guard let first = current.first, let last = current.last else { return }
            words.append((current.map(\.character).joined(), line.confidence, first.start, last.end))
            current = []
        }
        for character in line.characters {
            if character.character.trimmingCharacters(in: .whitespaces).isEmpty { finish() } else { current.append(character) }
        }
        finish()
        return words
    }

    /// Detection, then each line's crop, orientation and recognition.
    func readLines(_ image: FittedImage) throws -> [ReadLine] {
        let d = descriptor.detector
        let scale = min(1, Double(d.maxSide) / Double(max(image.width, image.height)))
        let scaledWidth = max(1, Int((Double(image.width) * scale).rounded()))
        let scaledHeight = max(1, Int((Double(image.height) * scale).rounded()))
        let canvas = [
            (scaledHeight + d.multiple - 1) / d.multiple * d.multiple, (scaledWidth + d.multiple - 1) / d.multiple * d.multiple,
        ]
        let pixels = try image.scaled(
            PixelRegion(x: 0, y: 0, width: image.width, height: image.height), width: scaledWidth, height: scaledHeight,
            canvasWidth: canvas[1], canvasHeight: canvas[0])
        let bgr = d.channels.uppercased() == "BGR"
        var input = [Float](repeating: 0, count: pixels.count)
        for index in stride(from: 0, to: pixels.count, by: 3) {
            for c in 0..<3 {
                let source = bgr ? 2 - c : c
                input[index + c] = (Float(pixels[index + source]) / 255 - d.mean[c]) / d.std[c]
            }
        }
        let session = try detector.session(for: [3] + canvas)
        let map = try lock.withLock { try input.withUnsafeBufferPointer { try session.run(nhwc: $0) } }
        var boxes: [RotatedBox] = []
        map.withUnsafeBufferPointer { probabilities in
            for region in TextGeometry.regions(probabilities, width: canvas[1], height: canvas[0], threshold: d.threshold, minPixels: 4) {
                guard region.meanScore >= d.boxThreshold,
                    let box = TextGeometry.minimumAreaBox(TextGeometry.convexHull(TextGeometry.outline(region))),
                    min(box.width, box.height) >= d.minSize
                else { continue }
                let grown = box.expanded(by: box.width * box.height * d.unclipRatio / (2 * (box.width + box.height)))
                guard min(grown.width, grown.height) >= d.minSize + 2 else { continue }
                boxes.append(grown.scaled(by: 1 / scale))
            }
        }
        var lines: [ReadLine] = []
        for index in TextGeometry.readingOrder(boxes) {
            if let line = try recognize(image, box: boxes[index]) { lines.append(line) }
        }
        return lines
    }

    /// One line: cropped straight (vertical lines turned a quarter), read upright and, when the orientation
    /// classifier thinks it upside down, turned too, keeping the more confident reading; nil when nothing
    /// confident is read.
    ///
    /// Why not trust the classifier: it sees the whole line squeezed into 192 x 48 and on long lines of
    /// small print said "180" at 99.8% for upright text (a photographed book page), which turned lines
    /// that were right. Read both ways, the recognizer's own confidence decides.
    func recognize(_ image: FittedImage, box: RotatedBox) throws -> ReadLine? {
        var box = box
        if box.height >= box.width * 1.5 {
            // A vertical line: read it turned a quarter counter-clockwise, as PaddleOCR does.
            box = RotatedBox(center: box.center, axis: PlanePoint(x: box.axis.y, y: -box.axis.x), width: box.height, height: box.width)
        }
        guard box.width >= 1, box.height >= 1 else { return nil }
        let o = descriptor.orientation
        let orientationWidth = min(o.width, max(1, Int((Double(o.height) * box.width / box.height).rounded(.up))))
        let sample = TextCrop.sample(image, box: box, width: orientationWidth, height: o.height, canvasWidth: o.width)
        let turned = try lock.withLock { try Self.lineInput(sample).withUnsafeBufferPointer { try orientation.run(nhwc: $0) } }
        var candidates = [try read(image, box: box)]
        if turned.count == 2, turned[1] > turned[0], turned[1] >= o.threshold { candidates.append(try read(image, box: box.turned)) }
        guard let best = candidates.compactMap({ $0 }).max(by: { $0.confidence < $1.confidence }),
            best.confidence >= descriptor.recognizer.minConfidence
        else { return nil }
        return best
    }

    /// The recognizer's reading of `box` as it lies (its top-left corner first); nil when it reads nothing.
    func read(_ image: FittedImage, box: RotatedBox) throws -> ReadLine? {
        let r = descriptor.recognizer
        let width = min(r.maxWidth, max(8, Int((Double(r.height) * box.width / box.height).rounded(.up))))
        let padded = Self.paddedWidth(width, multiple: r.widthMultiple, maximum: r.maxWidth)
        let crop = TextCrop.sample(image, box: box, width: width, height: r.height, canvasWidth: padded)
        let session = try recognizer.session(for: [3, r.height, padded])
        let scores = try lock.withLock { try Self.lineInput(crop).withUnsafeBufferPointer { try session.run(nhwc: $0) } }
        let steps = session.outputShape.count == 3 ? session.outputShape[1] : 0
        guard steps > 0, scores.count == steps * characters.count else { return nil }
        let decoded = Self.decode(scores, steps: steps, classes: characters.count, characters: characters)
        let text = decoded.map(\.character).joined().trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty else { return nil }
        let confidence = decoded.map(\.probability).reduce(0, +) / Double(decoded.count)
        // A step covers padded / steps input columns; the text fills the first `width` of them.
        let columnsPerStep = Double(padded) / Double(steps)
        let along = decoded.map { item in
            (
                item.character, min(1, Double(item.step) * columnsPerStep / Double(width)),
                min(1, Double(item.step + 1) * columnsPerStep / Double(width))
            )
        }
        return ReadLine(box: box, text: text, confidence: confidence, characters: along)
    }

    /// The recognizer's input width for a line `width` wide: a multiple of `multiple` up to 6 of them, then
    /// steps of a quarter more (at most 25% padding), so a dozen sizes cover lines up to 1600 pixels and
    /// their sessions stay cached.
    static func paddedWidth(_ width: Int, multiple: Int, maximum: Int) -> Int {
        var size = multiple
        while size < width && size < 6 * multiple { size += multiple }
        while size < width { size = (size * 5 / 4 + multiple - 1) / multiple * multiple }
        return min(size, max(maximum, multiple))
    }

    /// Greedy CTC: each step's most likely class, repeats merged, blanks dropped.
    static func decode(_ scores: [Float], steps: Int, classes: Int, characters: [String]) -> [(character: String, probability: Double, step: Int)] {
        var result: [(character: String, probability: Double, step: Int)] = []
        var previous = 0
        scores.withUnsafeBufferPointer { all in
            for step in 0..<steps {
                let row = all.baseAddress! + step * classes
                var (best, bestScore) = (0, row[0])
                for index in 1..<classes where row[index] > bestScore { (best, bestScore) = (index, row[index]) }
                if best != 0 && best != previous { result.append((characters[best], Double(bestScore), step)) }
                previous = best
            }
        }
        return result
    }

    /// Recognizer and orientation input: BGR, x / 127.5 - 1 (the crops' mid-grey padding becomes about 0, as
    /// PaddleOCR pads after normalising).
    static func lineInput(_ rgb: [UInt8]) -> [Float] {
        var input = [Float](repeating: 0, count: rgb.count)
        for index in stride(from: 0, to: rgb.count, by: 3) {
            input[index] = Float(rgb[index + 2]) / 127.5 - 1
            input[index + 1] = Float(rgb[index + 1]) / 127.5 - 1
            input[index + 2] = Float(rgb[index]) / 127.5 - 1
        }
        return input
    }
}

/// Straight crops of rotated boxes.
enum TextCrop {
    /// `box` (pixels of `image`) resampled to `width` x `height`, placed at the left of a `canvasWidth`-wide
    /// canvas of mid-grey (which the recognizer's normalisation turns into 0, as PaddleOCR pads); bilinear,
    /// averaging up to 4 x 4 samples per pixel when the box is larger than the crop.
    static func sample(_ image: FittedImage, box: RotatedBox, width: Int, height: Int, canvasWidth: Int) -> [UInt8] {
        var output = [UInt8](repeating: 128, count: canvasWidth * height * 3)
        let corners = box.corners
        let (origin, across, down) = (corners[0], corners[1] - corners[0], corners[3] - corners[0])
        let factor = max(box.width / Double(width), box.height / Double(height))
        let samples = min(4, max(1, Int(factor.rounded(.up))))
        let (w, h) = (image.width, image.height)
        image.pixels.withUnsafeBufferPointer { source in
            for y in 0..<height {
                for x in 0..<min(width, canvasWidth) {
                    var (r, g, b) = (0.0, 0.0, 0.0)
                    for sy in 0..<samples {
                        for sx in 0..<samples {
                            let u = (Double(x) + (Double(sx) + 0.5) / Double(samples)) / Double(width)
                            let v = (Double(y) + (Double(sy) + 0.5) / Double(samples)) / Double(height)
                            let point = origin + across * u + down * v
                            // Pixel centres are at +0.5; clamp to the image's edge pixels.
                            let px = min(max(point.x - 0.5, 0), Double(w - 1))
                            let py = min(max(point.y - 0.5, 0), Double(h - 1))
                            let (x0, y0) = (Int(px), Int(py))
                            let (x1, y1) = (min(x0 + 1, w - 1), min(y0 + 1, h - 1))
                            let (fx, fy) = (px - Double(x0), py - Double(y0))
                            for c in 0..<3 {
                                let top = Double(source[(y0 * w + x0) * 3 + c]) * (1 - fx) + Double(source[(y0 * w + x1) * 3 + c]) * fx
                                let bottom = Double(source[(y1 * w + x0) * 3 + c]) * (1 - fx) + Double(source[(y1 * w + x1) * 3 + c]) * fx
                                let value = top * (1 - fy) + bottom * fy
                                if c == 0 { r += value } else if c == 1 { g += value } else { b += value }
                            }
                        }
                    }
                    let count = Double(samples * samples)
                    let at = (y * canvasWidth + x) * 3
                    output[at] = UInt8(min(255, max(0, (r / count).rounded())))
                    output[at + 1] = UInt8(min(255, max(0, (g / count).rounded())))
                    output[at + 2] = UInt8(min(255, max(0, (b / count).rounded())))
                }
            }
        }
        return output
    }
}

/// Text as an analyzer: the reader on the upright image decoded for the face detector (one decode
/// for both), lines and words in the text section.
public struct TextAnalyzer: ImageAnalyzer {
    public let reader: TextReader
    /// At most this many words per image (nil: all).
    public let maxWords: Int?
    public let limits: ImageLimits

    public init(reader: TextReader, maxWords: Int? = nil, limits: ImageLimits = .default) {
        self.reader = reader
        self.maxWords = maxWords
        self.limits = limits
    }

    public var feature: AnalysisFeature { .text }
    public var model: ModelInfo { reader.model }

    public func analyze(_ images: [AnalysisImage]) -> [Result<AnalyzerOutput, any Error>] {
        images.map { image in
            Result { try image.analyzedFitted(limits: limits) { .text(try reader.read($0, maxWords: maxWords)) } }
        }
    }
}
