import Foundation
import Logging
import RelayCore
import Synchronization

/// Announces this node and the client ids and topics it holds, in Redis.
///
/// Guarantees: every entry expires by itself (`ttl`) unless this node's heartbeat
/// refreshes it, so a crashed node stops being routed to within the TTL with nobody
/// cleaning up; entries carry the node's start epoch, so a restarted node with the same id
/// does not inherit its ghost's routes (the publish script drops entries whose epoch is
/// not the live node's); connects and disconnects are written in batches, one round trip
/// per batch, re-reading the hub's current truth so out-of-order notifications cannot
/// leave a wrong entry; after an outage the next heartbeat re-registers everything.
public final class RedisRegistry: Sendable {
    public struct Configuration: Sendable {
        public var nodeID: String
        /// `host:port` where this node's subscribers connect (for operators and tools).
        public var advertisedAddress: String
        /// This node's RabbitMQ queue name.
        public var queue: String
        public var version: String
        public var heartbeat: Duration
        public var ttl: Duration

        public init(nodeID: String, advertisedAddress: String, queue: String, version: String, heartbeat: Duration = .seconds(5), ttl: Duration = .seconds(15)) {
            self.nodeID = nodeID
            self.advertisedAddress = advertisedAddress
            self.queue = queue
            self.version = version
            self.heartbeat = heartbeat
            self.ttl = ttl
        }
    }

    /// A live node as the registry describes it.
    public struct Node: Sendable, Equatable {
        public var id: String
        public var address: String
        public var queue: String
        public var started: Int64
        public var version: String
        public var connections: Int
    }

    private enum Key: Hashable, Sendable {
        case client(ClientID)
        case topic(TopicName)
    }

    public let configuration: Configuration
    /// This run's start time in ms: the epoch routes carry.
    public let started: Int64
    private let client: RedisClient
    private let prefix: String
    private let logger: Logger
    private let batches = Mutex(Batches())
    private let signal: AsyncStream<Void>.Continuation
    private let signals: AsyncStream<Void>
    private let membership = Mutex<(any LocalMembership)?>(nil)
    /// Set once the node leaves (drain): no heartbeat or flush may announce it again.
    private let left = Mutex(false)
    private let malformedLog = Mutex(LogThrottle())

    public init(client: RedisClient, configuration: Configuration, logger: Logger) {
        self.client = client
        self.configuration = configuration
        self.prefix = client.configuration.keyPrefix
        self.logger = logger
        self.started = Int64(Date().timeIntervalSince1970 * 1000)
        (signals, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Keys waiting for the next flush, the batch being written, and who waits for which
    /// batch (``registered(_:)``). Batches are numbered: the one being written is `writing`,
    /// the pending keys go out in the next one.
    private struct Batches {
        var pending: Set<Key> = []
        var inFlight: Set<Key> = []
        var writing: UInt64 = 0
        var waiters: [(batch: UInt64, wait: Wait)] = []

        /// Takes the waits whose batch is done (written or failed).
        mutating func finished(upTo batch: UInt64) -> [Wait] {
            var done: [Wait] = []
            waiters.removeAll { waiter in
                guard waiter.batch <= batch else { return false }
                done.append(waiter.wait)
                return true
            }
            return done
        }
    }

    /// One caller of ``registered(_:)``: resumed once, by the flush or by its task's
    /// cancellation, whichever comes first.
    private final class Wait: Sendable {
        private let state = Mutex<(continuation: CheckedContinuation<Void, Never>?, over: Bool)>((nil, false))

        func begin(_ continuation: CheckedContinuation<Void, Never>) {
            let over = state.withLock { state in
                if !state.over { state.continuation = continuation }
                return state.over
            }
            if over { continuation.resume() }
        }

        func end() {
            let continuation = state.withLock { state in
                defer { state = (nil, true) }
                return state.continuation
            }
            continuation?.resume()
        }
    }

    private static func keys(_ change: MembershipChange) -> [Key] {
        [.client(change.client)] + change.topics.map { .topic($0) }
    }

    /// The hub's notification: re-read these keys at the next flush.
    public func changed(_ change: MembershipChange) {
        batches.withLock { $0.pending.formUnion(Self.keys(change)) }
        signal.yield()
    }

    /// Returns once the flush that carries `change`'s keys is done: when it succeeded, a
    /// publish on any node from then on routes `change`'s client and topics here. Also
    /// returns when that flush failed (the entries go out with a later one), and when the
    /// calling task is cancelled: callers bound their wait that way. Returns at once for
    /// keys already written.
    public func registered(_ change: MembershipChange) async {
        let keys = Self.keys(change)
        let wait = Wait()
        let waiting = batches.withLock { batches in
            let batch: UInt64
            if keys.contains(where: batches.pending.contains) {
                batch = batches.writing + 1
            } else if keys.contains(where: batches.inFlight.contains) {
                batch = batches.writing
            } else {
                return false
            }
            batches.waiters.append((batch, wait))
            return true
        }
        guard waiting else { return }
        await withTaskCancellationHandler {
            await withCheckedContinuation { wait.begin($0) }
        } onCancel: {
            wait.end()
        }
    }

    /// Asks for a heartbeat now (after a Redis reconnection).
    public func refreshSoon() {
        heartbeatRequested.withLock { $0 = true }
        signal.yield()
    }

    private let heartbeatRequested = Mutex(false)

    private var ttlMilliseconds: String { String(configuration.ttl.milliseconds) }

    /// Announces the node now; throws when Redis does not answer (start-up waits for it).
    public func announce(_ source: any LocalMembership) async throws {
        membership.withLock { $0 = source }
        try await heartbeat()
    }

    /// Flushes changes as they come and sends heartbeats, until cancelled.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            // The heartbeat is only requested here and written by the task below, between
            // flushes. Written from a task of its own, a heartbeat that read the membership
            // just before a disconnect could land after that disconnect's HDEL and bring
            // the route back for a whole TTL (a test caught it on a loaded machine).
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: self.configuration.heartbeat)
                    self.refreshSoon()
                }
            }
            group.addTask {
                for await _ in self.signals {
                    if self.heartbeatRequested.withLock({ let requested = $0; $0 = false; return requested }) {
                        await self.heartbeatLogged()
                    }
                    await self.flush()
                }
            }
            await group.next()
            group.cancelAll()
        }
    }

    private func heartbeatLogged() async {
        do {
            try await heartbeat()
        } catch {
            logger.warning("registry heartbeat failed", metadata: ["error": "\(error)"])
        }
    }

    private func flush() async {
        guard !left.withLock({ $0 }), let source = membership.withLock({ $0 }) else {
            // Nothing is written any more (drained, or not announced yet): nobody may wait.
            for wait in batches.withLock({ $0.finished(upTo: .max) }) { wait.end() }
            return
        }
        let (keys, batch) = batches.withLock { batches in
            guard !batches.pending.isEmpty else { return (Set<Key>(), UInt64(0)) }
            batches.writing += 1
            swap(&batches.inFlight, &batches.pending)
            return (batches.inFlight, batches.writing)
        }
        guard !keys.isEmpty else { return }
        var commands: [RedisCommand] = []
        commands.reserveCapacity(keys.count * 2)
        for key in keys {
            let (redisKey, held): (String, Bool) =
                switch key {
                case .client(let id): (prefix + "client:" + id.rawValue, source.holds(id))
                case .topic(let topic): (prefix + "topic:" + topic.rawValue, source.holds(topic))
                }
            if held {
                commands.append(RedisCommand("HSET", redisKey, configuration.nodeID, String(started)))
                commands.append(RedisCommand("PEXPIRE", redisKey, ttlMilliseconds))
            } else {
                commands.append(RedisCommand("HDEL", redisKey, configuration.nodeID))
            }
        }
        var failed = false
        do {
            try await repairMalformed(commands, replies: try await client.send(commands))
        } catch {
            failed = true
            logger.debug("registry update deferred", metadata: ["error": "\(error)", "keys": "\(keys.count)"])
        }
        let done = batches.withLock { batches in
            // Kept for the next try; the heartbeat after reconnection re-adds the rest.
            if failed { batches.pending.formUnion(keys) }
            batches.inFlight = []
            return batches.finished(upTo: batch)
        }
        for wait in done { wait.end() }
    }

    /// Refreshes the node entry and every entry this node holds.
    private func heartbeat() async throws {
        guard !left.withLock({ $0 }), let source = membership.withLock({ $0 }) else { return }
        let nodeKey = prefix + "node:" + configuration.nodeID
        let (clients, topics) = source.membership
        let nodeCommands = [
            RedisCommand(
                "HSET", nodeKey, "started", String(started), "address", configuration.advertisedAddress,
                "queue", configuration.queue, "version", configuration.version, "connections", String(source.connectionCount)
            ),
            RedisCommand("PEXPIRE", nodeKey, ttlMilliseconds),
            RedisCommand("SADD", prefix + "nodes", configuration.nodeID),
        ]
        try await repairMalformed(nodeCommands, replies: try await client.send(nodeCommands))
        let entries = clients.map { prefix + "client:" + $0.rawValue } + topics.map { prefix + "topic:" + $0.rawValue }
        // Chunks keep one pipeline from holding Redis (and the worker) for long.
        var start = 0
        while start < entries.count {
            let chunk = entries[start..<min(start + 1000, entries.count)]
            var commands: [RedisCommand] = []
            commands.reserveCapacity(chunk.count * 2)
            for key in chunk {
                commands.append(RedisCommand("HSET", key, configuration.nodeID, String(started)))
                commands.append(RedisCommand("PEXPIRE", key, ttlMilliseconds))
            }
            try await repairMalformed(commands, replies: try await client.send(commands))
            start += 1000
        }
    }

    /// Registry keys are not trusted blindly: a key of the wrong type (garbage written by
    /// hand or by another program) makes its `HSET` fail; it is deleted and written again,
    /// with a warning at most every 10 s, so one bad key cannot keep this node unroutable.
    private func repairMalformed(_ commands: [RedisCommand], replies: [RedisValue]) async throws {
        var repairs: [RedisCommand] = []
        var keys: [String] = []
        for (command, reply) in zip(commands, replies) {
            guard let message = reply.errorMessage, message.hasPrefix("WRONGTYPE"), command.arguments.count >= 2,
                  command.arguments[0] == Array("HSET".utf8) || command.arguments[0] == Array("SADD".utf8)
            else { continue }
            let key = String(decoding: command.arguments[1], as: UTF8.self)
            keys.append(key)
            repairs.append(RedisCommand("DEL", key))
            repairs.append(command)
            // The `nodes` set never expires; entries and node hashes do.
            if command.arguments[0] == Array("HSET".utf8) { repairs.append(RedisCommand("PEXPIRE", key, ttlMilliseconds)) }
        }
        guard !repairs.isEmpty else { return }
        let now = UInt64(DispatchTime.now().uptimeNanoseconds)
        let (log, suppressed) = malformedLog.withLock { $0.record(now: now) }
        if log {
            logger.warning(
                "replacing malformed registry keys", metadata: ["redis.keys": "\(keys.prefix(10))", "redis.repairs_not_logged": "\(suppressed)"])
        }
        _ = try await client.send(repairs)
    }

    /// Leaves the cluster for good (drain): removes the node and its entries and stops
    /// announcing them, so publishers route to wherever the browsers reconnect.
    public func leave() async {
        left.withLock { $0 = true }
        await deregister()
    }

    /// Removes this node and its entries (clean shutdown), so nobody routes here meanwhile.
    public func deregister() async {
        guard let source = membership.withLock({ $0 }) else { return }
        let (clients, topics) = source.membership
        var commands = [RedisCommand("DEL", prefix + "node:" + configuration.nodeID)]
        for id in clients { commands.append(RedisCommand("HDEL", prefix + "client:" + id.rawValue, configuration.nodeID)) }
        for topic in topics { commands.append(RedisCommand("HDEL", prefix + "topic:" + topic.rawValue, configuration.nodeID)) }
        do {
            _ = try await client.send(commands)
        } catch {
            logger.warning("could not deregister from Redis; entries expire by themselves", metadata: ["error": "\(error)"])
        }
    }

    /// The live nodes of the cluster.
    public func nodes() async throws -> [Node] {
        let ids = try await client.send(RedisCommand("SMEMBERS", prefix + "nodes")).array?.compactMap(\.string) ?? []
        guard !ids.isEmpty else { return [] }
        let replies = try await client.send(ids.map { RedisCommand("HGETALL", prefix + "node:" + $0) })
        var nodes: [Node] = []
        for (id, reply) in zip(ids, replies) {
            let fields = reply.array?.compactMap(\.string) ?? []
            guard fields.count >= 2 else { continue }  // expired: dead
            var values: [String: String] = [:]
            var index = 0
            while index + 1 < fields.count {
                values[fields[index]] = fields[index + 1]
                index += 2
            }
            nodes.append(
                Node(
                    id: id, address: values["address"] ?? "", queue: values["queue"] ?? "",
                    started: Int64(values["started"] ?? "") ?? 0, version: values["version"] ?? "",
                    connections: Int(values["connections"] ?? "") ?? 0
                )
            )
        }
        return nodes.sorted { $0.id < $1.id }
    }

    /// The nodes currently registered for `client` (live or not yet expired).
    public func nodes(holding client: ClientID) async throws -> [String] {
        let reply = try await self.client.send(RedisCommand("HKEYS", prefix + "client:" + client.rawValue))
        return reply.array?.compactMap(\.string).sorted() ?? []
    }
}
