import Foundation
import Logging

/// Operator actions on the bus directory (used by `bus-admin`).
extension FileBus: BusAdministration {
    /// All topics with their subscriptions.
    public func topics() throws -> [TopicInfo] {
        try DurableFiles.list(rootPath + "/topics").sorted().map { topic in
            TopicInfo(
                name: topic,
                subscriptions: try subscriptions(of: topic).map { SubscriptionInfo(queue: $0.queue, filter: $0.filter) },
                pendingFanOuts: DurableFiles.list(topicPath(topic) + "/pending").count)
        }
    }

    /// Names of all queues.
    public func queues() -> [String] {
        DurableFiles.list(rootPath + "/queues").filter {
            FileManager.default.fileExists(atPath: queuePath($0) + "/config.json")
        }.sorted()
    }

    /// Stats, configuration, oldest age and dead-letter count of one queue.
    public func status(of queue: String) throws -> QueueStatus {
        let stats = try stats(of: queue)
        let configuration = try configuration(of: queue)
        let now = clock.now()
        let oldest = DurableFiles.list(queuePath(queue) + "/ready").compactMap(WaitingName.init).min()
        var deadLetters: Int?
        if let dead = configuration.deadLetterQueue, let deadStats = try? self.stats(of: dead) {
            deadLetters = deadStats.visible + deadStats.inFlight + deadStats.delayed
        }
        return QueueStatus(
            stats: stats, configuration: configuration,
            oldestVisibleAge: oldest.map { max(0, now.timeIntervalSince($0.time)) }, deadLetters: deadLetters)
    }

    /// Up to `count` messages of `queue`, oldest first, without claiming them: ready ones, then
    /// (with `all`) delayed and in-flight ones.
    public func peek(_ queue: String, count: Int, all: Bool) throws -> [PeekedMessage] {
        try BusNames.validate(queue, what: "queue")
        _ = try configuration(of: queue)
        let base = queuePath(queue)
        var result: [PeekedMessage] = []
        var places: [(MessageState, String)] = [(.ready, "ready")]
        if all { places += [(.delayed, "delayed"), (.inflight, "inflight")] }
        for (state, dir) in places {
            for file in DurableFiles.list("\(base)/\(dir)").sorted() {
                guard result.count < count else { return result }
                let time: Date
                let receives: Int
                if state == .inflight {
                    guard let name = InFlightName(file) else { continue }
                    (time, receives) = (name.deadline, name.count)
                } else {
                    guard let name = WaitingName(file) else { continue }
                    (time, receives) = (name.time, name.count)
                }
                let path = "\(base)/\(dir)/\(file)"
                guard let data = try DurableFiles.read(path, operation: "peek \(queue)") else { continue }
                let stored = try StoredMessage.decode(data, path: path)
                result.append(
                    PeekedMessage(
                        message: stored.message, state: state, receiveCount: receives, time: time,
                        enqueuedAt: stored.enqueuedAt, deadLetters: stored.deadLetters))
            }
        }
        return result
    }

    /// Moves every visible message of dead-letter queue `deadLetterQueue` back to `target`, or
    /// to the queue each came from; receive counts start again at 0. Returns how many moved.
    @discardableResult
    public func redrive(from deadLetterQueue: String, to target: String?) throws -> Int {
        try BusNames.validate(deadLetterQueue, what: "queue")
        if let target { _ = try configuration(of: target) }
        let base = queuePath(deadLetterQueue)
        _ = try configuration(of: deadLetterQueue)
        var moved = 0
        for file in DurableFiles.list("\(base)/ready").sorted() {
            guard let name = WaitingName(file) else { continue }
            let now = clock.now()
            // Claim it like a consumer would, so a concurrent receive can not take it too.
            let lease = InFlightName(deadline: now + Self.moveLease, count: name.count + 1, id: name.id)
            let leasePath = "\(base)/inflight/\(lease.fileName)"
            guard try DurableFiles.rename("\(base)/ready/\(file)", leasePath, operation: "redrive \(deadLetterQueue)") == .moved else { continue }
            guard let data = try DurableFiles.read(leasePath, operation: "redrive \(deadLetterQueue)") else { continue }
            let stored = try StoredMessage.decode(data, path: leasePath)
            guard let destination = target ?? stored.deadLetters.last?.queue,
                (try? configuration(of: destination)) != nil
            else {
                logger.warning("dead letter has no known source queue; left in place", metadata: ["message.id": "\(name.id)"])
                _ = try DurableFiles.rename(leasePath, "\(base)/ready/\(file)", operation: "redrive \(deadLetterQueue)")
                continue
            }
            try store(StoredMessage(message: stored.message, enqueuedAt: now, deadLetters: stored.deadLetters), in: destination, delay: 0)
            try DurableFiles.unlink(leasePath, operation: "redrive \(deadLetterQueue)")
            logger.info("dead letter redriven", metadata: ["message.id": "\(name.id)", "queue": "\(destination)"])
            moved += 1
        }
        lock.withLock { readyCache[deadLetterQueue] = nil }
        return moved
    }

    /// Copies every message kept in `archiveQueue` published at or after `since` into `target`
    /// (same ids, fresh receive counts); the archive keeps them. Returns how many were copied.
    @discardableResult
    public func replay(archive archiveQueue: String, to target: String, since: Date?) throws -> Int {
        _ = try configuration(of: target)
        var copied = 0
        let all = try peek(archiveQueue, count: Int.max, all: true)
        for item in all.sorted(by: { $0.message.publishedAt < $1.message.publishedAt }) {
            if let since, item.message.publishedAt < since { continue }
            try store(StoredMessage(message: item.message, enqueuedAt: clock.now()), in: target, delay: 0)
            copied += 1
        }
        logger.info("replayed archive", metadata: ["archive": "\(archiveQueue)", "queue": "\(target)", "messages": "\(copied)"])
        return copied
    }

    /// Deletes every message of `queue` (ready, delayed and in flight). Returns how many.
    @discardableResult
    public func purge(_ queue: String) throws -> Int {
        try BusNames.validate(queue, what: "queue")
        _ = try configuration(of: queue)
        var removed = 0
        for dir in ["ready", "delayed", "inflight"] {
            let path = queuePath(queue) + "/" + dir
            for file in DurableFiles.list(path) where try DurableFiles.unlink("\(path)/\(file)", operation: "purge \(queue)") {
                removed += 1
            }
        }
        lock.withLock { readyCache[queue] = nil }
        logger.info("queue purged", metadata: ["queue": "\(queue)", "messages": "\(removed)"])
        return removed
    }

    /// Deletes the messages of `queue` older than its retention period. Returns how many.
    @discardableResult
    public func purgeExpired(_ queue: String) throws -> Int {
        let configuration = try configuration(of: queue)
        guard let retention = configuration.retention else { return 0 }
        let limit = clock.now() - retention
        var removed = 0
        for dir in ["ready", "delayed"] {
            let path = queuePath(queue) + "/" + dir
            for file in DurableFiles.list(path) {
                guard let name = WaitingName(file) else { continue }
                var expired = name.time < limit
                if !expired, let data = try DurableFiles.read("\(path)/\(file)", operation: "purge expired"),
                    let stored = try? StoredMessage.decode(data, path: path)
                {
                    expired = stored.enqueuedAt < limit
                }
                if expired, try DurableFiles.unlink("\(path)/\(file)", operation: "purge expired in \(queue)") { removed += 1 }
            }
        }
        lock.withLock { readyCache[queue] = nil }
        return removed
    }

    /// Checks the bus directory: leftover temporary files older than `tmpAge` seconds,
    /// unfinished fan-outs, unparsable names or files, subscriptions to missing queues. With
    /// `repair`, removes leftovers, completes fan-outs and quarantines unreadable files.
    public func check(repair: Bool, tmpAge: TimeInterval) throws -> CheckReport {
        var report = CheckReport()
        let wallNow = Date()
        func problem(_ text: String, fixed: Bool, _ repairText: String) {
            if fixed { report.repairs.append(repairText) } else { report.problems.append(text) }
        }
        func sweepTmp(_ dir: String) throws {
            for file in DurableFiles.list(dir) {
                let path = "\(dir)/\(file)"
                guard let modified = DurableFiles.modificationTime(path), wallNow.timeIntervalSince(modified) >= tmpAge else { continue }
                if repair { try DurableFiles.unlink(path, operation: "remove leftover temporary file") }
                problem("leftover temporary file \(path)", fixed: repair, "removed leftover temporary file \(path)")
            }
        }
        for topic in DurableFiles.list(rootPath + "/topics").sorted() {
            try sweepTmp(topicPath(topic) + "/tmp")
            do {
                for subscription in try subscriptions(of: topic)
                where !FileManager.default.fileExists(atPath: queuePath(subscription.queue) + "/config.json") {
                    report.problems.append("topic \(topic) is subscribed by missing queue \(subscription.queue)")
                }
            } catch { report.problems.append("\(error)") }
            let pending = DurableFiles.list(topicPath(topic) + "/pending")
            if !pending.isEmpty && !repair {
                report.problems.append("topic \(topic) has \(pending.count) unfinished fan-out(s) (a publisher died mid-publish)")
            }
        }
        if repair {
            let completed = try completePendingFanOuts(olderThan: nil)
            if completed > 0 { report.repairs.append("completed \(completed) unfinished fan-out(s)") }
        }
        for queue in DurableFiles.list(rootPath + "/queues").sorted() {
            let base = queuePath(queue)
            do { _ = try readConfiguration(queue) } catch {
                report.problems.append("queue \(queue): \(error)")
                continue
            }
            try sweepTmp("\(base)/tmp")
            for dir in ["ready", "delayed", "inflight"] {
                for file in DurableFiles.list("\(base)/\(dir)").sorted() {
                    let path = "\(base)/\(dir)/\(file)"
                    let nameOK = dir == "inflight" ? InFlightName(file) != nil : WaitingName(file) != nil
                    var readable = false
                    if nameOK, let data = try DurableFiles.read(path, operation: "check"),
                        (try? StoredMessage.decode(data, path: path)) != nil
                    {
                        readable = true
                    }
                    report.messagesChecked += 1
                    guard !readable else { continue }
                    if repair { try quarantine(path, label: queue) }
                    problem("unreadable message file \(path)", fixed: repair, "quarantined unreadable file \(path)")
                }
            }
        }
        let quarantined = DurableFiles.list(quarantinePath)
        if !quarantined.isEmpty {
            report.problems.append("\(quarantined.count) file(s) in \(quarantinePath): inspect them, then delete them")
        }
        return report
    }
}
