import Foundation

/// One earlier dead-lettering of a message, kept with it so an operator sees its history.
public struct DeadLetterRecord: Codable, Sendable, Equatable {
    /// The queue the message was dead-lettered from.
    public var queue: String
    /// Why (the handler's reason, or the receive limit).
    public var reason: String
    /// How often it had been received from `queue` by then.
    public var receiveCount: Int
    /// When it was dead-lettered.
    public var at: Date

    public init(queue: String, reason: String, receiveCount: Int, at: Date) {
        self.queue = queue
        self.reason = reason
        self.receiveCount = receiveCount
        self.at = at
    }
}

/// What a message file holds: the message, when it entered the queue and its dead-letter
/// history. Message files are written once and never modified.
struct StoredMessage: Codable, Sendable {
    static let currentVersion = 1
    var version: Int = StoredMessage.currentVersion
    var message: BusMessage
    /// When this copy entered its queue (retention counts from here).
    var enqueuedAt: Date
    /// Earlier dead-letterings, oldest first; the last one names the queue to redrive to.
    var deadLetters: [DeadLetterRecord] = []

    func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(self)
    }

    static func decode(_ data: Data, path: String) throws -> StoredMessage {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        do {
            return try decoder.decode(StoredMessage.self, from: data)
        } catch {
            throw BusError(
                .corrupt, operation: "decode message file", path: path,
                hint: "The file is not a bus message (\(error)). Run `bus-admin check --repair` to quarantine it.")
        }
    }
}
