import Bus
import Foundation
import Logging
import PipelineModel

/// What a handler decided about one message; the worker loop applies it to the queue.
public enum MessageOutcome: Sendable, Equatable {
    /// Done: the message is deleted (acked).
    case completed
    /// A transient failure: the message becomes visible again after `delay` seconds and is
    /// dead-lettered by the queue once it has been received `maxReceiveCount` times.
    case retry(delay: TimeInterval, reason: String)
    /// A permanent failure: the message moves to the dead-letter queue now, with `reason`.
    case deadLetter(reason: String)
}

/// The per-worker logic: turn a batch of received messages into outcomes.
///
/// Handlers must be idempotent: at-least-once delivery means a message can arrive twice.
public protocol MessageHandler: Sendable {
    /// Handles a batch (one or more messages) and returns one outcome per message, in order.
    func handle(_ batch: [ReceivedMessage], logger: Logger) async -> [MessageOutcome]
}

extension ReceivedMessage {
    /// Decodes the JSON body as `T`, with an error that names the message.
    public func decodeBody<T: Decodable>(_ type: T.Type) throws -> T {
        do {
            return try MessageCoding.decoder().decode(T.self, from: message.body)
        } catch {
            throw MalformedMessageError(messageID: message.id, expected: String(describing: T.self), detail: "\(error)")
        }
    }

    /// Logger metadata identifying this message (and its image, when the attribute is set).
    public var logMetadata: Logger.Metadata {
        var metadata: Logger.Metadata = ["message.id": "\(message.id)", "queue": "\(queue)", "receive.count": "\(receiveCount)"]
        if let imageID = message.attributes[MessageAttribute.imageID] { metadata["image.id"] = "\(imageID)" }
        return metadata
    }
}

/// A message body that is not the JSON its queue promises; never worth retrying.
public struct MalformedMessageError: Error, CustomStringConvertible {
    public var messageID: String
    public var expected: String
    public var detail: String
    public var description: String {
        "message \(messageID) is not a valid \(expected) body: \(detail). It goes to the dead-letter queue; inspect it with `bus-admin peek`."
    }
}
