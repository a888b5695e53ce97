import Foundation

/// What can go wrong when loading or running a classifier.
public enum RecognitionError: Error, CustomStringConvertible, Sendable {
    case modelFileUnreadable(path: String, detail: String)
    case invalidDescriptor(path: String, detail: String)
    case invalidClassNames(path: String, detail: String)
    case invalidTaxonomy(path: String, detail: String)
    case classCountMismatch(model: Int, names: Int, namesPath: String)
    case unsupportedInputShape([Int])
    case modelNotFound(searched: [String])

    public var description: String {
        switch self {
        case .modelFileUnreadable(let path, let detail):
            return "cannot read model file \(path): \(detail). Check --model points at an ONNX classifier or its descriptor JSON."
        case .invalidDescriptor(let path, let detail):
            return "model descriptor \(path) is not valid: \(detail). See Models/efficientnet-lite0.json for the expected fields."
        case .invalidClassNames(let path, let detail):
            return "class names file \(path) is not usable: \(detail). Give one class name per line, in output index order."
        case .invalidTaxonomy(let path, let detail):
            return "taxonomy file \(path) is not valid: \(detail)."
        case .classCountMismatch(let model, let names, let path):
            return "the model outputs \(model) classes but \(path) names \(names); pass the class-name file that belongs to this model."
        case .unsupportedInputShape(let shape):
            return "the model's input shape \(shape) is not an image classifier input [batch, 3, height, width]."
        case .modelNotFound(let searched):
            return
                "no classifier model found (looked in \(searched.joined(separator: ", "))). Pass --model, set IMAGE_PIPELINE_MODELS, or run from the project directory."
        }
    }
}
