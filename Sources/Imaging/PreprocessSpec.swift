/// How a classifier wants its input: resize, centre crop, per-channel normalisation.
public struct PreprocessSpec: Sendable, Hashable, Codable {
    /// Width of the network input in pixels.
    public var width: Int
    /// Height of the network input in pixels.
    public var height: Int
    /// The image is first fitted to `resize` x `resize` (shorter side scaled to `resize`,
    /// centre-cropped), then the `width` x `height` centre is cut out.
    public var resize: Int
    /// Per-channel mean (R, G, B) subtracted from 0-255 pixel values.
    public var mean: [Float]
    /// Per-channel divisor (R, G, B) applied after subtracting the mean.
    public var std: [Float]

    /// Creates a spec; the defaults are EfficientNet-Lite0's (224 crop of 256, (x-127)/128).
    public init(
        width: Int = 224, height: Int = 224, resize: Int = 256,
        mean: [Float] = [127, 127, 127], std: [Float] = [128, 128, 128]
    ) {
        self.width = width
        self.height = height
        self.resize = resize
        self.mean = mean
        self.std = std
    }

    /// EfficientNet-Lite0 (TF-Lite/ONNX release): 224x224 RGB NHWC, (x - 127) / 128.
    public static let efficientNetLite0 = PreprocessSpec()

    /// Left and top offsets of the crop inside the `resize` x `resize` thumbnail.
    public var cropOrigin: (left: Int, top: Int) {
        ((resize - width) / 2, (resize - height) / 2)
    }

    /// The spec with the normalisation left out: specs with equal geometry give the same bytes.
    public var geometry: PreprocessSpec {
        PreprocessSpec(width: width, height: height, resize: resize, mean: [0, 0, 0], std: [1, 1, 1])
    }

    /// Bytes `Preprocessor.pixels` returns: width x height x 3.
    public var byteCount: Int { width * height * 3 }

    /// Throws when the numbers cannot work together.
    public func validate() throws(ImagingError) {
        guard width > 0, height > 0, resize > 0 else {
            throw .invalidSpec("width, height and resize must be positive (got \(width)x\(height), resize \(resize))")
        }
        guard width <= resize, height <= resize else {
            throw .invalidSpec("crop \(width)x\(height) is larger than the \(resize)x\(resize) resize")
        }
        guard mean.count == 3, std.count == 3 else {
            throw .invalidSpec("mean and std need 3 values (R, G, B), got \(mean.count) and \(std.count)")
        }
        guard std.allSatisfy({ $0 != 0 && $0.isFinite }), mean.allSatisfy(\.isFinite) else {
            throw .invalidSpec("std must be finite and non-zero, mean finite (got mean \(mean), std \(std))")
        }
    }
}
