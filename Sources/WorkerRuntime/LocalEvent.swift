import Bus
import Foundation
import PipelineModel

/// The "generate-event | invoke" habit: run a worker's handler on one message body read from a
/// file or standard input, without taking anything from a queue.
public enum LocalEvent {
    /// Reads an event body from `path`, or from standard input when `path` is `-`.
    public static func read(from path: String) throws -> Data {
        if path == "-" { return FileHandle.standardInput.readDataToEndOfFile() }
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw LocalEventError(path: path, detail: "\(error)")
        }
    }

    /// Wraps a body in a received message as if it had come from `queue` for the first time.
    public static func message(
        body: Data, topic: String, queue: String,
        attributes: [String: String] = [:]
    ) -> ReceivedMessage {
        let id = "local-\(UUID().uuidString.lowercased())"
        var attributes = attributes
        attributes[MessageAttribute.type] = attributes[MessageAttribute.type] ?? topic
        let message = BusMessage(id: id, topic: topic, attributes: attributes, body: body, publishedAt: Date())
        return ReceivedMessage(message: message, queue: queue, receiveCount: 1, receipt: id)
    }
}

/// An `--event` file that cannot be read.
public struct LocalEventError: Error, CustomStringConvertible {
    public var path: String
    public var detail: String
    public var description: String { "cannot read event file \(path): \(detail). Pass a JSON file, or - for standard input." }
}
