import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// The durable, file-backed bus: topics fan out to queues, queues give at-least-once delivery.
///
/// Layout under `root` (see docs/BUS.md): `topics/<t>/{subscriptions,tmp,pending}` and
/// `queues/<q>/{config.json,tmp,ready,inflight,delayed}`. Message files are immutable; all
/// mutable state (visible-at or deadline, receive count, receipt) lives in the file name, so
/// every state change is one atomic rename, and a claim is a rename only one process can win.
/// Several processes may use one bus directory at the same time.
public final class FileBus: MessageBus, @unchecked Sendable {
    /// The bus directory.
    public let root: URL
    let rootPath: String
    let logger: Logger
    let clock: BusClock
    /// How long a message being moved (to a dead-letter queue, by redrive) stays claimed; if the
    /// mover dies it reappears after this.
    static let moveLease: TimeInterval = 60
    /// A pending fan-out older than this is presumed abandoned by a crashed publisher.
    static let pendingGrace: TimeInterval = 30
    /// Sleep between looks at the queue while long polling without inotify.
    static let pollInterval: Duration = .milliseconds(25)
    /// With inotify, the longest a long-polling receiver goes without looking (delayed
    /// messages and expired claims become visible by time, which inotify does not report).
    static let idleLookInterval: Duration = .milliseconds(250)

    let lock = NSLock()
    var configurations: [String: (configuration: QueueConfiguration, modified: Date)] = [:]
    var subscriptionCache: [String: (modified: Date, subscriptions: [Subscription])] = [:]
    var readyCache: [String: [WaitingName]] = [:]  // per queue, sorted descending (popLast = oldest)
    var lastMaintenance: [String: Date] = [:]
    var lastPendingSweep = Date.distantPast
    var arrivalWatchers: [String: ArrivalWatcher?] = [:]  // per queue; nil entry: inotify unavailable

    /// A queue's subscription to a topic.
    struct Subscription: Sendable {
        var queue: String
        var filter: AttributeFilter
    }

    /// Opens (creating if needed) the bus at `root`, e.g. `PipelineHome.busDirectory`.
    public init(root: URL, logger: Logger = Logger(label: "bus"), clock: BusClock = .system) throws {
        self.root = root.standardizedFileURL
        self.rootPath = self.root.path
        self.logger = logger
        self.clock = clock
        try DurableFiles.makeDirectory(rootPath + "/topics", operation: "create bus directory")
        try DurableFiles.makeDirectory(rootPath + "/queues", operation: "create bus directory")
    }

    // MARK: Paths

    func queuePath(_ queue: String) -> String { "\(rootPath)/queues/\(queue)" }
    func topicPath(_ topic: String) -> String { "\(rootPath)/topics/\(topic)" }
    var quarantinePath: String { "\(rootPath)/quarantine" }

    /// A unique temporary file name (pid + random) so concurrent writers never collide.
    func temporaryName(_ suffix: String) -> String { "\(getpid()).\(BusNames.randomHex(10)).\(suffix)" }

    // MARK: Queues and subscriptions

    public func createQueue(_ name: String, configuration: QueueConfiguration) throws {
        try BusNames.validate(name, what: "queue")
        if let dead = configuration.deadLetterQueue {
            try BusNames.validate(dead, what: "dead-letter queue")
            if !FileManager.default.fileExists(atPath: queuePath(dead) + "/config.json") {
                // A dead-letter queue keeps its messages until an operator acts.
                try createQueue(
                    dead,
                    configuration: QueueConfiguration(
                        visibilityTimeout: 60, maxReceiveCount: Int.max, deadLetterQueue: nil, retention: nil))
            }
        }
        let base = queuePath(name)
        for sub in ["tmp", "ready", "inflight", "delayed"] {
            try DurableFiles.makeDirectory("\(base)/\(sub)", operation: "create queue \(name)")
        }
        if let existing = try? readConfiguration(name), existing == configuration { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encodeOrThrow(configuration, encoder: encoder, what: "queue configuration")
        try replaceDurably(data, at: "\(base)/config.json", tmpDirectory: "\(base)/tmp", operation: "write configuration of queue \(name)")
        logger.debug("queue configured", metadata: ["queue": "\(name)"])
    }

    public func subscribe(queue: String, to topic: String, filter: AttributeFilter) throws {
        try BusNames.validate(queue, what: "queue")
        try BusNames.validate(topic, what: "topic")
        _ = try configuration(of: queue)
        let base = topicPath(topic)
        for sub in ["subscriptions", "tmp", "pending"] {
            try DurableFiles.makeDirectory("\(base)/\(sub)", operation: "create topic \(topic)")
        }
        let path = "\(base)/subscriptions/\(queue).json"
        if let data = try DurableFiles.read(path, operation: "read subscription"),
            let existing = try? JSONDecoder().decode(AttributeFilter.self, from: data), existing == filter
        {
            return
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encodeOrThrow(filter, encoder: encoder, what: "subscription filter")
        try replaceDurably(data, at: path, tmpDirectory: "\(base)/tmp", operation: "subscribe \(queue) to \(topic)")
    }

    /// The configuration of `queue`, cached until its file changes.
    func configuration(of queue: String) throws -> QueueConfiguration {
        let path = queuePath(queue) + "/config.json"
        guard let modified = DurableFiles.modificationTime(path) else {
            throw BusError(
                .notFound, operation: "open queue \(queue)", path: path,
                hint: "The queue does not exist; create it first (workers do on start, via Topology.ensure).")
        }
        if let cached = lock.withLock({ configurations[queue] }), cached.modified == modified { return cached.configuration }
        let configuration = try readConfiguration(queue)
        lock.withLock { configurations[queue] = (configuration, modified) }
        return configuration
    }

    func readConfiguration(_ queue: String) throws -> QueueConfiguration {
        let path = queuePath(queue) + "/config.json"
        guard let data = try DurableFiles.read(path, operation: "read queue configuration") else {
            throw BusError(
                .notFound, operation: "open queue \(queue)", path: path,
                hint: "The queue does not exist; create it first (workers do on start, via Topology.ensure).")
        }
        do {
            return try JSONDecoder().decode(QueueConfiguration.self, from: data)
        } catch {
            throw BusError(
                .corrupt, operation: "read configuration of queue \(queue)", path: path,
                hint: "Fix or delete the file, then re-create the queue (\(error)).")
        }
    }

    /// The subscriptions of `topic`, cached until the subscriptions directory changes.
    func subscriptions(of topic: String) throws -> [Subscription] {
        let dir = topicPath(topic) + "/subscriptions"
        guard let modified = DurableFiles.modificationTime(dir) else { return [] }
        if let cached = lock.withLock({ subscriptionCache[topic] }), cached.modified == modified { return cached.subscriptions }
        var result: [Subscription] = []
        for name in DurableFiles.list(dir).sorted() where name.hasSuffix(".json") {
            let path = "\(dir)/\(name)"
            guard let data = try DurableFiles.read(path, operation: "read subscription") else { continue }
            guard let filter = try? JSONDecoder().decode(AttributeFilter.self, from: data) else {
                throw BusError(
                    .corrupt, operation: "read subscription of topic \(topic)", path: path,
                    hint: "Delete the file and subscribe the queue again.")
            }
            result.append(Subscription(queue: String(name.dropLast(5)), filter: filter))
        }
        lock.withLock { subscriptionCache[topic] = (modified, result) }
        return result
    }

    // MARK: Publishing

    @discardableResult
    public func publish(topic: String, body: Data, attributes: [String: String], id: String?) throws -> BusMessage {
        try publish([OutgoingMessage(topic: topic, body: body, attributes: attributes, id: id)])[0]
    }

    /// Publishes a batch with one directory fsync per target queue for the whole batch rather
    /// than per message: each message file is written and fsynced under its topic's tmp/,
    /// renamed to pending/, then all are linked into their queues, those directories synced
    /// once, and the pending names dropped.
    public func publish(_ batch: [OutgoingMessage]) throws -> [BusMessage] {
        sweepPendingIfDue()
        var published: [BusMessage] = []
        var fanOuts: [(pending: String, name: String, targets: [String], operation: String)] = []
        for item in batch {
            try BusNames.validate(item.topic, what: "topic")
            let now = clock.now()
            let id = item.id ?? BusNames.newID(at: now)
            try BusNames.validateID(id)
            let message = BusMessage(id: id, topic: item.topic, attributes: item.attributes, body: item.body, publishedAt: now)
            published.append(message)
            let targets = try subscriptions(of: item.topic).filter { $0.filter.matches(item.attributes) }.map(\.queue)
            guard !targets.isEmpty else {
                logger.debug(
                    "published to a topic without matching subscriptions; message dropped",
                    metadata: ["topic": "\(item.topic)", "message.id": "\(id)"])
                continue
            }
            let operation = "publish to \(item.topic)"
            let data = try encodeOrThrow(StoredMessage(message: message, enqueuedAt: now), what: "message")
            let name = WaitingName(time: now, count: 0, id: id).fileName
            let base = topicPath(item.topic)
            // Written once under tmp/, made durable, then renamed: a reader never sees half a file.
            let tmp = "\(base)/tmp/\(temporaryName(name))"
            try DurableFiles.writeNew(data, to: tmp, operation: operation)
            let pending = "\(base)/pending/\(name)"
            guard try DurableFiles.rename(tmp, pending, operation: operation) == .moved else {
                throw BusError(
                    .io, operation: operation, path: tmp,
                    hint: "The temporary message file vanished; is `bus-admin check --repair` running with --tmp-age 0?")
            }
            fanOuts.append((pending, name, targets, operation))
        }
        var toSync: [String] = []
        var linked: [String] = []
        for fanOut in fanOuts {
            guard
                let directories = try link(
                    pendingPath: fanOut.pending, name: fanOut.name, targets: fanOut.targets,
                    operation: fanOut.operation)
            else { continue }
            for directory in directories where !toSync.contains(directory) { toSync.append(directory) }
            linked.append(fanOut.pending)
        }
        for directory in toSync { try DurableFiles.syncDirectory(directory, operation: "publish") }
        for pending in linked { try DurableFiles.unlink(pending, operation: "publish") }
        for message in published {
            logger.trace("published", metadata: ["topic": "\(message.topic)", "message.id": "\(message.id)"])
        }
        return published
    }

    /// Hard-links a pending message into each target queue's ready/ under its deterministic
    /// name (a repeat finds the name taken and moves on), syncs those directories, then drops
    /// the pending name. Crashing anywhere in here leaves the pending file for completion.
    func fanOut(pendingPath: String, name: String, targets: [String], operation: String) throws {
        guard let directories = try link(pendingPath: pendingPath, name: name, targets: targets, operation: operation) else { return }
        for dir in directories { try DurableFiles.syncDirectory(dir, operation: operation) }
        try DurableFiles.unlink(pendingPath, operation: operation)
    }

    /// The linking step of a fan-out: returns the ready/ directories to sync, or nil when
    /// another process already completed this fan-out.
    private func link(pendingPath: String, name: String, targets: [String], operation: String) throws -> [String]? {
        var synced: [String] = []
        for queue in targets {
            let ready = queuePath(queue) + "/ready"
            switch try DurableFiles.link(pendingPath, "\(ready)/\(name)", operation: operation) {
            case .moved, .targetExists: synced.append(ready)
            case .sourceGone:
                // Someone else completed this fan-out and removed the pending name.
                if FileManager.default.fileExists(atPath: ready) { return nil }
                logger.warning("subscribed queue is missing; skipping it", metadata: ["queue": "\(queue)"])
            }
        }
        return synced
    }

    /// Completes the fan-out of pending messages left by crashed publishers (all of them when
    /// `olderThan` is nil). Returns how many were completed.
    @discardableResult
    func completePendingFanOuts(olderThan grace: TimeInterval?) throws -> Int {
        var completed = 0
        let wallNow = Date()
        for topic in DurableFiles.list(rootPath + "/topics").sorted() {
            let dir = topicPath(topic) + "/pending"
            for name in DurableFiles.list(dir).sorted() {
                let path = "\(dir)/\(name)"
                if let grace, let modified = DurableFiles.modificationTime(path), wallNow.timeIntervalSince(modified) < grace { continue }
                guard let data = try DurableFiles.read(path, operation: "complete fan-out") else { continue }
                guard WaitingName(name) != nil, let stored = try? StoredMessage.decode(data, path: path) else {
                    try quarantine(path, label: "pending.\(topic)")
                    continue
                }
                let targets = try subscriptions(of: topic).filter { $0.filter.matches(stored.message.attributes) }.map(\.queue)
                try fanOut(pendingPath: path, name: name, targets: targets, operation: "complete fan-out of \(topic)")
                logger.info("completed an interrupted fan-out", metadata: ["topic": "\(topic)", "message.id": "\(stored.message.id)"])
                completed += 1
            }
        }
        return completed
    }

    /// Runs `completePendingFanOuts` at most every few seconds, from publish and receive.
    func sweepPendingIfDue() {
        let now = Date()
        let due = lock.withLock {
            guard now.timeIntervalSince(lastPendingSweep) >= 5 else { return false }
            lastPendingSweep = now
            return true
        }
        guard due else { return }
        do { try completePendingFanOuts(olderThan: Self.pendingGrace) } catch {
            logger.warning("could not complete interrupted fan-outs", metadata: ["error": "\(error)"])
        }
    }

    public func send(_ message: BusMessage, to queue: String, delay: TimeInterval) throws {
        try BusNames.validateID(message.id)
        _ = try configuration(of: queue)
        try store(StoredMessage(message: message, enqueuedAt: clock.now()), in: queue, delay: delay)
    }

    /// Writes a new message file into `queue` (ready, or delayed when `delay` > 0), durably.
    func store(_ stored: StoredMessage, in queue: String, delay: TimeInterval) throws {
        let operation = "send \(stored.message.id) to \(queue)"
        let base = queuePath(queue)
        let name = WaitingName(time: stored.enqueuedAt + max(0, delay), count: 0, id: stored.message.id)
        let dir = delay > 0 ? "\(base)/delayed" : "\(base)/ready"
        let tmp = "\(base)/tmp/\(temporaryName(name.fileName))"
        try DurableFiles.writeNew(try encodeOrThrow(stored, what: "message"), to: tmp, operation: operation)
        // link, not rename: it never replaces a file of the same name (same id, same microsecond).
        let linked = try DurableFiles.link(tmp, "\(dir)/\(name.fileName)", operation: operation)
        if linked == .sourceGone {
            throw BusError(
                .io, operation: operation, path: tmp,
                hint: "The temporary message file vanished; is `bus-admin check --repair` running with --tmp-age 0?")
        }
        try DurableFiles.syncDirectory(dir, operation: operation)
        try DurableFiles.unlink(tmp, operation: operation)
        if delay <= 0 { lock.withLock { readyCache[queue] = nil } }
    }

    // MARK: Receiving

    public func receive(
        from queue: String, maxMessages: Int, visibilityTimeout: TimeInterval?,
        wait: TimeInterval
    ) async throws -> [ReceivedMessage] {
        try BusNames.validate(queue, what: "queue")
        let deadline = ContinuousClock.now + .milliseconds(Int64(max(0, wait) * 1000))
        sweepPendingIfDue()
        let watcher = wait > 0 ? arrivalWatcher(for: queue) : nil
        while true {
            let seen = watcher?.currentGeneration ?? 0
            let batch = try claim(from: queue, maxMessages: max(1, maxMessages), visibilityTimeout: visibilityTimeout)
            if !batch.isEmpty || ContinuousClock.now >= deadline || Task.isCancelled { return batch }
            if let watcher {
                await watcher.wait(after: seen, timeout: min(Self.idleLookInterval, deadline - ContinuousClock.now))
                if Task.isCancelled { return [] }
            } else {
                do {
                    try await Task.sleep(for: min(Self.pollInterval, deadline - ContinuousClock.now))
                } catch {
                    return []
                }
            }
        }
    }

    /// The queue's arrival watcher, made on first use; nil when inotify is unavailable.
    func arrivalWatcher(for queue: String) -> ArrivalWatcher? {
        lock.withLock {
            if let known = arrivalWatchers[queue] { return known }
            let directory = queuePath(queue) + "/ready"
            let watcher = ArrivalWatcher(directory: directory)
            // A queue that does not exist yet gets its watcher once it does.
            guard watcher != nil || FileManager.default.fileExists(atPath: directory) else { return nil }
            if watcher == nil { logger.debug("no inotify for queue; polling", metadata: ["queue": "\(queue)"]) }
            arrivalWatchers[queue] = watcher
            return watcher
        }
    }

    /// One non-waiting attempt to claim up to `maxMessages` messages.
    func claim(from queue: String, maxMessages: Int, visibilityTimeout: TimeInterval?) throws -> [ReceivedMessage] {
        let configuration = try configuration(of: queue)
        let visibility = max(0, visibilityTimeout ?? configuration.visibilityTimeout)
        let base = queuePath(queue)
        let now = clock.now()
        try maintain(queue, configuration: configuration, now: now, force: false)
        var received: [ReceivedMessage] = []
        var relisted = false
        while received.count < maxMessages {
            guard let name = nextCandidate(queue, relisted: &relisted) else { break }
            let readyPath = "\(base)/ready/\(name.fileName)"
            if let retention = configuration.retention, name.time < now - retention {
                if try DurableFiles.unlink(readyPath, operation: "expire message in \(queue)") {
                    logger.info("message expired unread", metadata: ["queue": "\(queue)", "message.id": "\(name.id)"])
                }
                continue
            }
            let count = name.count + 1
            let claimed = InFlightName(deadline: now + visibility, count: count, id: name.id)
            let inflightPath = "\(base)/inflight/\(claimed.fileName)"
            // The claim: only one process's rename of this name can succeed.
            guard try DurableFiles.rename(readyPath, inflightPath, operation: "receive from \(queue)") == .moved else { continue }
            if name.count >= configuration.maxReceiveCount {
                // Only after the queue's limit was lowered: the message has had its tries.
                let reason = "received \(name.count) times, maxReceiveCount is now \(configuration.maxReceiveCount)"
                _ = try moveToDeadLetterQueue(queue, claim: claimed, reason: reason, configuration: configuration, now: now)
                continue
            }
            guard let data = try DurableFiles.read(inflightPath, operation: "receive from \(queue)") else { continue }
            let stored: StoredMessage
            do { stored = try StoredMessage.decode(data, path: inflightPath) } catch {
                logger.error("unreadable message file quarantined", metadata: ["queue": "\(queue)", "path": "\(inflightPath)"])
                try quarantine(inflightPath, label: queue)
                continue
            }
            if let retention = configuration.retention, stored.enqueuedAt < now - retention {
                try DurableFiles.unlink(inflightPath, operation: "expire message in \(queue)")
                logger.info("message expired unread", metadata: ["queue": "\(queue)", "message.id": "\(name.id)"])
                continue
            }
            received.append(ReceivedMessage(message: stored.message, queue: queue, receiveCount: count, receipt: claimed.fileName))
        }
        return received
    }

    /// The oldest ready name not yet tried by this process, listing ready/ again (once per
    /// claim call) when the cached listing is used up.
    func nextCandidate(_ queue: String, relisted: inout Bool) -> WaitingName? {
        if let next = lock.withLock({ readyCache[queue]?.popLast() }) { return next }
        if relisted { return nil }
        relisted = true
        let names = DurableFiles.list(queuePath(queue) + "/ready").compactMap(WaitingName.init).sorted(by: >)
        return lock.withLock {
            readyCache[queue] = names
            return readyCache[queue]?.popLast()
        }
    }

    /// Returns expired claims to ready/ (or the dead-letter queue past maxReceiveCount) and
    /// delayed messages that are due; whoever notices does it, the loser of a race moves on.
    func maintain(_ queue: String, configuration: QueueConfiguration, now: Date, force: Bool) throws {
        let due = lock.withLock {
            if !force, let last = lastMaintenance[queue], now >= last, now.timeIntervalSince(last) < 0.2,
                readyCache[queue]?.isEmpty == false
            {
                return false
            }
            lastMaintenance[queue] = now
            return true
        }
        guard due else { return }
        let base = queuePath(queue)
        var changed = false
        for file in DurableFiles.list("\(base)/inflight") {
            guard let name = InFlightName(file), name.deadline <= now else { continue }
            if name.count >= configuration.maxReceiveCount {
                let reason = "received \(name.count) times without an ack (maxReceiveCount \(configuration.maxReceiveCount))"
                _ = try moveToDeadLetterQueue(queue, claim: name, reason: reason, configuration: configuration, now: now)
            } else {
                let back = WaitingName(time: name.deadline, count: name.count, id: name.id)
                if try DurableFiles.rename(
                    "\(base)/inflight/\(file)", "\(base)/ready/\(back.fileName)",
                    operation: "return timed-out message in \(queue)") == .moved
                {
                    changed = true
                    logger.debug(
                        "visibility timeout ran out; message visible again",
                        metadata: ["queue": "\(queue)", "message.id": "\(name.id)", "receive.count": "\(name.count)"])
                }
            }
        }
        for file in DurableFiles.list("\(base)/delayed") {
            guard let name = WaitingName(file), name.time <= now else { continue }
            if try DurableFiles.rename(
                "\(base)/delayed/\(file)", "\(base)/ready/\(file)",
                operation: "make delayed message visible in \(queue)") == .moved
            {
                changed = true
            }
        }
        if changed { lock.withLock { readyCache[queue] = nil } }
    }

    // MARK: Settling

    public func delete(_ message: ReceivedMessage) throws {
        let path = try inflightPath(of: message, operation: "ack")
        guard try DurableFiles.unlink(path, operation: "ack \(message.message.id)") else {
            throw staleReceipt(message, operation: "ack")
        }
    }

    public func release(_ message: ReceivedMessage, delay: TimeInterval) throws {
        let path = try inflightPath(of: message, operation: "release")
        guard let claim = InFlightName(message.receipt) else { throw staleReceipt(message, operation: "release") }
        let configuration = try configuration(of: message.queue)
        let now = clock.now()
        if claim.count >= configuration.maxReceiveCount {
            let reason = "released after \(claim.count) receives (maxReceiveCount \(configuration.maxReceiveCount))"
            guard try moveToDeadLetterQueue(message.queue, claim: claim, reason: reason, configuration: configuration, now: now) else {
                throw staleReceipt(message, operation: "release")
            }
            return
        }
        let base = queuePath(message.queue)
        let back = WaitingName(time: now + max(0, delay), count: claim.count, id: claim.id)
        let target = delay > 0 ? "\(base)/delayed/\(back.fileName)" : "\(base)/ready/\(back.fileName)"
        guard try DurableFiles.rename(path, target, operation: "release \(message.message.id)") == .moved else {
            throw staleReceipt(message, operation: "release")
        }
        if delay <= 0 { lock.withLock { readyCache[message.queue] = nil } }
    }

    public func deadLetter(_ message: ReceivedMessage, reason: String) throws {
        _ = try inflightPath(of: message, operation: "dead-letter")
        guard let claim = InFlightName(message.receipt) else { throw staleReceipt(message, operation: "dead-letter") }
        let configuration = try configuration(of: message.queue)
        guard try moveToDeadLetterQueue(message.queue, claim: claim, reason: reason, configuration: configuration, now: clock.now()) else {
            throw staleReceipt(message, operation: "dead-letter")
        }
    }

    /// Moves a claimed message to the dead-letter queue with `reason` added to its history.
    /// First re-claims it under a fresh lease (so nobody else times it out meanwhile), then writes
    /// the dead letter durably, then drops the claim: a crash in between yields a duplicate,
    /// never a loss. Returns false if the claim was no longer there.
    func moveToDeadLetterQueue(
        _ queue: String, claim: InFlightName, reason: String,
        configuration: QueueConfiguration, now: Date
    ) throws -> Bool {
        let base = queuePath(queue)
        let lease = InFlightName(deadline: now + Self.moveLease, count: claim.count, id: claim.id)
        let leasePath = "\(base)/inflight/\(lease.fileName)"
        guard try DurableFiles.rename("\(base)/inflight/\(claim.fileName)", leasePath, operation: "dead-letter from \(queue)") == .moved else {
            return false
        }
        guard let data = try DurableFiles.read(leasePath, operation: "dead-letter from \(queue)") else { return false }
        let stored: StoredMessage
        do { stored = try StoredMessage.decode(data, path: leasePath) } catch {
            try quarantine(leasePath, label: queue)
            return true
        }
        var metadata: Logger.Metadata = ["queue": "\(queue)", "message.id": "\(claim.id)", "reason": "\(reason)"]
        if let dead = configuration.deadLetterQueue {
            if (try? self.configuration(of: dead)) == nil {
                try createQueue(
                    dead,
                    configuration: QueueConfiguration(
                        visibilityTimeout: 60, maxReceiveCount: Int.max,
                        deadLetterQueue: nil, retention: nil))
            }
            let record = DeadLetterRecord(queue: queue, reason: reason, receiveCount: claim.count, at: now)
            try store(
                StoredMessage(message: stored.message, enqueuedAt: now, deadLetters: stored.deadLetters + [record]),
                in: dead, delay: 0)
            metadata["dead.letter.queue"] = "\(dead)"
            logger.info("message moved to dead-letter queue", metadata: metadata)
        } else {
            logger.warning("message dropped: its queue has no dead-letter queue", metadata: metadata)
        }
        try DurableFiles.unlink(leasePath, operation: "dead-letter from \(queue)")
        return true
    }

    func inflightPath(of message: ReceivedMessage, operation: String) throws -> String {
        try BusNames.validate(message.queue, what: "queue")
        guard InFlightName(message.receipt) != nil, !message.receipt.contains("/") else {
            throw BusError(
                .staleReceipt, operation: "\(operation) \(message.message.id)",
                hint: "The receipt \"\(message.receipt)\" was not issued by this bus.")
        }
        return queuePath(message.queue) + "/inflight/" + message.receipt
    }

    func staleReceipt(_ message: ReceivedMessage, operation: String) -> BusError {
        BusError(
            .staleReceipt, operation: "\(operation) \(message.message.id) in \(message.queue)",
            path: queuePath(message.queue) + "/inflight/" + message.receipt,
            hint:
                "The claim is gone: its visibility timeout ran out and the message was (or will be) delivered again, or it was already settled. Raise the queue's visibility timeout if handling takes longer."
        )
    }

    // MARK: Stats

    public func stats(of queue: String) throws -> QueueStats {
        try BusNames.validate(queue, what: "queue")
        let configuration = try configuration(of: queue)
        let now = clock.now()
        try maintain(queue, configuration: configuration, now: now, force: true)
        let base = queuePath(queue)
        var visible = 0
        for file in DurableFiles.list("\(base)/ready") {
            guard let name = WaitingName(file) else { continue }
            if let retention = configuration.retention, name.time < now - retention {
                try DurableFiles.unlink("\(base)/ready/\(file)", operation: "expire message in \(queue)")
                continue
            }
            visible += 1
        }
        let inFlight = DurableFiles.list("\(base)/inflight").filter { InFlightName($0) != nil }.count
        let delayed = DurableFiles.list("\(base)/delayed").filter { WaitingName($0) != nil }.count
        return QueueStats(queue: queue, visible: visible, inFlight: inFlight, delayed: delayed)
    }

    // MARK: Helpers

    /// Writes `data` as a new version of a small mutable file (configuration, subscription).
    func replaceDurably(_ data: Data, at path: String, tmpDirectory: String, operation: String) throws {
        let tmp = "\(tmpDirectory)/\(temporaryName("replace"))"
        try DurableFiles.writeNew(data, to: tmp, operation: operation)
        guard try DurableFiles.rename(tmp, path, operation: operation) == .moved else {
            throw BusError(.io, operation: operation, path: tmp, hint: "The temporary file vanished; retry.")
        }
        try DurableFiles.syncDirectory((path as NSString).deletingLastPathComponent, operation: operation)
    }

    /// Moves an unreadable file aside to quarantine/, where `check` reports it.
    func quarantine(_ path: String, label: String) throws {
        try DurableFiles.makeDirectory(quarantinePath, operation: "quarantine")
        let target = "\(quarantinePath)/\(label).\(BusNames.randomHex(6)).\((path as NSString).lastPathComponent)"
        _ = try DurableFiles.rename(path, target, operation: "quarantine unreadable file")
    }

    func encodeOrThrow<T: Encodable>(_ value: T, encoder: JSONEncoder? = nil, what: String) throws -> Data {
        do {
            if let encoder { return try encoder.encode(value) }
            if let stored = value as? StoredMessage { return try stored.encoded() }
            return try JSONEncoder().encode(value)
        } catch let error as BusError {
            throw error
        } catch {
            throw BusError(.corrupt, operation: "encode \(what)", hint: "Report this as a bug (\(error)).")
        }
    }
}
