import Foundation
import Inference

/// Everything needed to run one classifier: the ONNX file, its class names and taxonomy, and
/// how its input must be prepared. Read from a JSON file next to the model (see Models/).
public struct ModelDescriptor: Codable, Sendable, Equatable {
    /// How images are turned into the model's input tensor.
    public struct Input: Codable, Sendable, Equatable {
        /// Input width and height after the centre crop.
        public var width: Int
        public var height: Int
        /// Size of the square the image is first resized to (shorter side) before the crop.
        public var resize: Int
        /// Tensor layout the ONNX file declares; only NCHW is accepted from ONNX files.
        public var layout: String
        /// Per-channel (R, G, B) normalisation on 0-255 pixel values: (x - mean) / std.
        public var mean: [Float]
        public var std: [Float]
    }

    public var name: String
    public var version: String
    /// ONNX file, relative to the descriptor's directory.
    public var onnx: String
    /// Class names file (one per line, in output index order), relative to the descriptor.
    public var classes: String
    /// Optional taxonomy JSON giving parent labels per class, relative to the descriptor.
    public var taxonomy: String?
    /// Optional INT8 (QDQ) version of the ONNX file, relative to the descriptor (see `ModelPrecision`).
    public var int8: String?
    public var input: Input

    /// Loads a descriptor and resolves its file references against its own directory.
    public static func load(from url: URL) throws -> (descriptor: ModelDescriptor, directory: URL) {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw RecognitionError.modelFileUnreadable(path: url.path, detail: "\(error)")
        }
        do {
            let descriptor = try JSONDecoder().decode(ModelDescriptor.self, from: data)
            return (descriptor, url.deletingLastPathComponent())
        } catch {
            throw RecognitionError.invalidDescriptor(path: url.path, detail: "\(error)")
        }
    }
}

/// Which of a model's files runs: its fp32 ONNX file or its INT8 (QDQ) version.
public enum ModelPrecision: String, CaseIterable, Sendable, Codable {
    /// INT8 where it is the faster of the two on this CPU (AVX-512 VNNI: our INT8 kernels take 0.4-0.6x
    /// the fp32 time there) and the model has an INT8 file; fp32 elsewhere (on AVX2 alone the INT8
    /// kernels are no faster at 2 threads).
    case auto
    case int8
    case fp32

    /// What `auto` means on this machine.
    public static var automatic: ModelPrecision { InferenceSession.int8KernelLevel >= 2 ? .int8 : .fp32 }

    /// The file of `descriptor` to run and the version to record with its labels (the INT8 file's has
    /// "-int8" appended); `.int8` without an INT8 file is an error that says so.
    public func choose(for descriptor: ModelDescriptor, at path: String) throws -> (onnx: String, version: String) {
        try choose(name: descriptor.name, version: descriptor.version, onnx: descriptor.onnx, int8: descriptor.int8, at: path)
    }

    /// As above, for any model's descriptor: its name, version, fp32 file and INT8 file (nil when none).
    public func choose(name: String, version: String, onnx: String, int8: String?, at path: String) throws -> (onnx: String, version: String) {
        switch self {
        case .fp32: return (onnx, version)
        case .auto: return try (int8 != nil ? Self.automatic : .fp32).choose(name: name, version: version, onnx: onnx, int8: int8, at: path)
        case .int8:
            guard let int8 else {
                throw RecognitionError.invalidDescriptor(
                    path: path, detail: "no INT8 version of \(name) (no \"int8\" file in the descriptor); use --precision fp32 or auto")
            }
            return (int8, "\(version)-int8")
        }
    }
}
