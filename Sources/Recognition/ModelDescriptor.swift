import Foundation

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
