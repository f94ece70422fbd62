import Dispatch
import Foundation
import Logging
import RelayCore
import Synchronization

/// A Redis connection served by a thread of its own.
///
/// Guarantees: hiredis is only ever called from the worker thread (never from an event
/// loop or Swift's shared pool); commands from concurrent callers that are waiting when the
/// worker wakes up are pipelined into one round trip; each caller gets its replies in the
/// order of its commands. While disconnected, calls fail at once with
/// ``RedisError/unavailable(_:)`` and the worker reconnects with backoff (through Sentinel
/// when configured, which is how a failover is followed).
public final class RedisClient: Sendable {
    private struct Request: Sendable {
        /// Asked on the worker thread right before the round trip (see
        /// ``RedisClient/submit(building:completion:)``).
        var commands: @Sendable () -> [RedisCommand]
        var completion: @Sendable (Result<[RedisValue], any Error>) -> Void
    }

    private struct State: Sendable {
        var pending: [Request] = []
        var running = true
        var connected = false
        var lastError = "not connected yet"
    }

    public let configuration: RedisConfiguration
    private let logger: Logger
    private let state = Mutex(State())
    private let wakeups = Atomic<UInt64>(0)
    private let wakeup = DispatchSemaphore(value: 0)
    private let stopped = DispatchSemaphore(value: 0)
    /// Runs on the worker thread after every (re)connection, e.g. to re-register.
    private let onConnect: @Sendable () -> Void
    /// Round trips (one per pipelined batch), errors and reconnects.
    private let metrics: RelayMetrics

    public init(
        configuration: RedisConfiguration, logger: Logger, metrics: RelayMetrics = RelayMetrics(),
        onConnect: @escaping @Sendable () -> Void = {}
    ) {
        self.configuration = configuration
        self.metrics = metrics
        self.logger = logger
        self.onConnect = onConnect
    }

    public var isConnected: Bool { state.withLock { $0.connected } }

    /// Advances each time the worker thread wakes up (at least once a second while it is not
    /// stuck): a watchdog's evidence of progress.
    public var progress: UInt64 { wakeups.load(ordering: .relaxed) }

    /// Why the client is not connected (for start-up errors and status), or `nil`.
    public var lastError: String? { state.withLock { $0.connected ? nil : $0.lastError } }

    /// Starts the worker thread.
    public func start() {
        let thread = Thread { [self] in self.work() }
        thread.name = "sse-relay-redis"
        thread.start()
    }

    /// Stops the worker; pending calls fail with `unavailable`.
    public func shutdown() {
        let wasRunning = state.withLock { state in
            defer { state.running = false }
            return state.running
        }
        guard wasRunning else { return }
        wakeup.signal()
        stopped.wait()
    }

    /// Runs `commands` in one round trip (shared with other waiting callers).
    public func send(_ commands: [RedisCommand]) async throws -> [RedisValue] {
        try await withCheckedThrowingContinuation { continuation in
            submit(commands) { continuation.resume(with: $0) }
        }
    }

    /// Queues `commands` behind everything submitted or sent before: Redis runs them in
    /// that order, which is what lets a caller keep its own order without waiting for each
    /// reply (ids for one publisher's events).
    ///
    /// `completion` runs once: at once on the calling thread when the client is not
    /// connected, otherwise on the worker thread, in submission order. It must be short and
    /// never block: the next round trip waits for it.
    public func submit(_ commands: [RedisCommand], completion: @escaping @Sendable (Result<[RedisValue], any Error>) -> Void) {
        submit(building: { commands }, completion: completion)
    }

    /// The same, with commands made on the worker thread just before they are sent: a
    /// caller can keep adding to one request (one script call for many events) until Redis
    /// is about to get it. `build` runs at most once, and not at all when the request is
    /// refused at once or the client shuts down first.
    public func submit(
        building build: @escaping @Sendable () -> [RedisCommand], completion: @escaping @Sendable (Result<[RedisValue], any Error>) -> Void
    ) {
        let refusal: RedisError? = state.withLock { state in
            guard state.running else { return .unavailable("shutting down") }
            guard state.connected else { return .unavailable(state.lastError) }
            state.pending.append(Request(commands: build, completion: completion))
            return nil
        }
        if let refusal {
            completion(.failure(refusal))
        } else {
            wakeup.signal()
        }
    }

    public func send(_ command: RedisCommand) async throws -> RedisValue {
        try await send([command])[0]
    }

    // MARK: Worker thread

    private func work() {
        var connection: HiredisContext?
        var backoff: Duration = .milliseconds(100)
        var everConnected = false
        while state.withLock({ $0.running }) {
            if connection == nil {
                do {
                    connection = try connect()
                    state.withLock { $0.connected = true }
                    logger.notice("Redis connected", metadata: ["redis.endpoint": "\(configuration.endpointDescription)"])
                    backoff = .milliseconds(100)
                    if everConnected { metrics.redisReconnects.increment() }
                    everConnected = true
                    onConnect()
                } catch {
                    let wasConnected = state.withLock { state in
                        defer {
                            state.connected = false
                            state.lastError = "\(error)"
                        }
                        return state.connected
                    }
                    if wasConnected { logger.warning("Redis unreachable", metadata: ["error": "\(error)"]) }
                    metrics.redisErrors.increment()
                    _ = wakeup.wait(timeout: .now() + .milliseconds(Int(backoff.milliseconds)))
                    backoff = min(backoff * 2, .seconds(5))
                    wakeups.add(1, ordering: .relaxed)
                    continue
                }
            }
            _ = wakeup.wait(timeout: .now() + .seconds(1))
            wakeups.add(1, ordering: .relaxed)
            let batch = state.withLock { state in
                defer { state.pending = [] }
                return state.pending
            }
            guard !batch.isEmpty, let active = connection else { continue }
            do {
                let started = ContinuousClock.now
                let built = batch.map { $0.commands() }
                let replies = try active.pipeline(built.flatMap { $0 })
                metrics.redisRoundTrip.recordNanoseconds(started.duration(to: .now).nanoseconds)
                var offset = 0
                var lostMaster = false
                for (request, commands) in zip(batch, built) {
                    let slice = Array(replies[offset..<(offset + commands.count)])
                    offset += commands.count
                    // A master demoted by a failover answers READONLY: find the new one.
                    if slice.contains(where: { $0.errorMessage?.hasPrefix("READONLY") == true }) { lostMaster = true }
                    request.completion(.success(slice))
                }
                if lostMaster {
                    logger.warning("Redis server is no longer the master; reconnecting")
                    connection = nil
                    state.withLock { $0.connected = false; $0.lastError = "master changed" }
                }
            } catch {
                connection = nil
                state.withLock { state in
                    state.connected = false
                    state.lastError = "\(error)"
                }
                metrics.redisErrors.increment()
                logger.warning("Redis connection lost", metadata: ["error": "\(error)"])
                for request in batch { request.completion(.failure(error)) }
            }
        }
        let leftover = state.withLock { state in
            defer { state.pending = []; state.connected = false }
            return state.pending
        }
        for request in leftover { request.completion(.failure(RedisError.unavailable("shutting down"))) }
        connection = nil
        stopped.signal()
    }

    private func connect() throws(RedisError) -> HiredisContext {
        let (host, port) = try resolveMaster()
        let context = try HiredisContext(host: host, port: port, timeout: configuration.timeout)
        var setup: [RedisCommand] = []
        if let password = configuration.password {
            if let user = configuration.username {
                setup.append(RedisCommand("AUTH", user, password))
            } else {
                setup.append(RedisCommand("AUTH", password))
            }
        }
        if configuration.database != 0 { setup.append(RedisCommand("SELECT", String(configuration.database))) }
        setup.append(RedisCommand("ROLE"))
        let replies = try context.pipeline(setup)
        if let failure = replies.compactMap(\.errorMessage).first {
            // Never echo the password; the server's message does not contain it.
            throw .unavailable("\(host):\(port) refused the login or database: \(failure)")
        }
        if replies.last?.array?.first?.string != "master" {
            throw .unavailable("\(host):\(port) is not a master (yet)")
        }
        return context
    }

    private func resolveMaster() throws(RedisError) -> (String, Int) {
        switch configuration.endpoint {
        case .direct(let host, let port):
            return (host, port)
        case .sentinel(let addresses, let name):
            var reasons: [String] = []
            for address in addresses {
                do {
                    let sentinel = try HiredisContext(host: address.host, port: address.port, timeout: configuration.timeout)
                    let reply = try sentinel.pipeline([RedisCommand("SENTINEL", "get-master-addr-by-name", name)])[0]
                    if let parts = reply.array, parts.count == 2, let host = parts[0].string, let port = parts[1].integer {
                        return (host, Int(port))
                    }
                    reasons.append("\(address): no master named \(name)")
                } catch {
                    reasons.append("\(address): \(error)")
                }
            }
            throw .unavailable("no sentinel knows the master: " + reasons.joined(separator: "; "))
        }
    }
}
