import ArgumentParser
import Bus
import Foundation

/// `bus-admin peek`: look at messages without claiming them.
struct Peek: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a queue's oldest messages as JSON lines without claiming them.",
        discussion: "Dead letters include their history (queue, reason, receive count, time).")

    @OptionGroup var options: BusOptions
    @Argument(help: "The queue to look into.") var queue: String
    @Option(help: "How many messages at most.") var count = 10
    @Flag(help: "Also show delayed and in-flight messages.") var all = false

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
    }

    func run() async throws {
        let bus = try options.open()
        for item in try bus.peek(queue, count: count, all: all) {
            var printed = PrintedMessage(item.message, queue: queue, receiveCount: item.receiveCount)
            printed.state = item.state.rawValue
            printed.deadLetters = item.deadLetters.isEmpty ? nil : item.deadLetters
            emit(try jsonLine(printed))
        }
    }
}

/// `bus-admin publish`: publish standard input to a topic.
struct Publish: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish standard input as one message to a topic; prints the message id.",
        discussion: "With --repeat N the same body is published N times, one id printed per published message.")

    @OptionGroup var options: BusOptions
    @Argument(help: "The topic to publish on.") var topic: String
    @Option(name: .customLong("attribute"), help: ArgumentHelp("A message attribute (repeatable).", valueName: "key=value"))
    var attributes: [String] = []
    @Option(help: "Message id (default: a fresh time-sortable id).") var id: String?
    @Option(name: .customLong("repeat"), help: "Publish the body this many times.") var repetitions = 1

    func validate() throws {
        guard repetitions >= 1 else { throw ValidationError("--repeat must be at least 1") }
        guard id == nil || repetitions == 1 else { throw ValidationError("--id and --repeat can not be combined") }
        for attribute in attributes where !attribute.contains("=") {
            throw ValidationError("--attribute \(attribute): expected key=value")
        }
    }

    func run() async throws {
        let bus = try options.open()
        let body = FileHandle.standardInput.readDataToEndOfFile()
        var parsed: [String: String] = [:]
        for attribute in attributes {
            let parts = attribute.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            parsed[String(parts[0])] = String(parts[1])
        }
        for _ in 0..<repetitions {
            let message = try bus.publish(topic: topic, body: body, attributes: parsed, id: id)
            emit(message.id)
        }
    }
}

/// `bus-admin receive`: claim messages, print them, optionally ack them.
struct Receive: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Receive messages from a queue and print one JSON line per message.",
        discussion: """
            Stops after --count messages, or when no message arrives within --wait seconds. \
            Without --ack the messages stay claimed and reappear after the visibility timeout. \
            With --ack each message is printed only after its ack succeeded.
            """)

    @OptionGroup var options: BusOptions
    @Argument(help: "The queue to receive from.") var queue: String
    @Option(help: "Stop after this many messages.") var count = 1
    @Flag(help: "Acknowledge (delete) each message after printing it.") var ack = false
    @Option(help: "Visibility timeout in seconds (default: the queue's).") var visibility: Double?
    @Option(help: "Seconds to wait for a message before giving up.") var wait: Double = 0
    @Option(help: "Messages claimed per receive call.") var batch = 10
    @Option(help: "Seconds to sleep holding the messages before exiting (for crash tests).") var hold: Double = 0

    func validate() throws {
        guard count >= 1, batch >= 1 else { throw ValidationError("--count and --batch must be at least 1") }
        guard wait >= 0, hold >= 0, (visibility ?? 0) >= 0 else { throw ValidationError("times must not be negative") }
    }

    func run() async throws {
        let bus = try options.open()
        var remaining = count
        while remaining > 0 {
            let messages = try await bus.receive(
                from: queue, maxMessages: min(batch, remaining),
                visibilityTimeout: visibility, wait: wait)
            if messages.isEmpty { break }
            for received in messages {
                if ack {
                    do { try bus.delete(received) } catch {
                        FileHandle.standardError.write(Data("ack failed: \(error)\n".utf8))
                        continue
                    }
                }
                var printed = PrintedMessage(received.message, queue: queue, receiveCount: received.receiveCount)
                printed.receipt = ack ? nil : received.receipt
                emit(try jsonLine(printed))
            }
            remaining -= messages.count
        }
        if hold > 0 { try await Task.sleep(for: .milliseconds(Int64(hold * 1000))) }
    }
}
