import RelayCore
import Logging
import Synchronization

/// What ``ForwarderWorker`` and ``ConsumerWorker`` share: the one thread, its start and stop,
/// the wakeup pipe, and the reconnect loop with its backoff.
///
/// One lock guards both the link and the worker's own `State`, so a worker can change the two
/// together: a forwarder refuses new requests in the same step that takes its queue, a
/// consumer starts a new delivery generation in the same step that reports the connection.
final class WorkerLifecycle<State: Sendable>: Sendable {
    struct Shared {
        var link = LinkState.idle
        var stopRequested = false
        fileprivate var exitWaiters: [CheckedContinuation<Void, Never>] = []
        var state: State
    }

    enum Ending {
        case stopped
        case lost(AMQPError)
    }

    let wakeup: WakeupPipe
    /// How often an idle worker calls into rabbitmq-c, which sends heartbeats only from
    /// inside its own calls: a quarter of the interval keeps the broker from ever missing one.
    let idleTick: Duration
    private let shared: Mutex<Shared>
    private let role: String
    private let connector: BrokerConnector
    private let reconnectDelay: Duration
    private let maxReconnectDelay: Duration
    private let logger: Logger

    init(role: String, configuration: AMQPConfiguration, state: State, logger: Logger) throws(AMQPError) {
        try configuration.validate()
        wakeup = try WakeupPipe()
        connector = BrokerConnector(
            urls: try configuration.brokerURLs(), connectionName: "sse-relay \(configuration.nodeID) \(role)",
            heartbeat: configuration.heartbeat, timeout: configuration.connectTimeout)
        let heartbeat = configuration.heartbeat
        idleTick = heartbeat > .zero ? min(max(heartbeat / 4, .milliseconds(100)), .seconds(1)) : .seconds(1)
        reconnectDelay = configuration.reconnectDelay
        maxReconnectDelay = configuration.maxReconnectDelay
        shared = Mutex(Shared(state: state))
        self.role = role
        self.logger = logger
    }

    // MARK: Called from any thread or task

    var link: LinkState { shared.withLock { $0.link } }

    var stopRequested: Bool { shared.withLock { $0.stopRequested } }

    func withLock<Result: Sendable>(_ body: (inout Shared) -> Result) -> Result {
        shared.withLock { body(&$0) }
    }

    /// Spawns the thread running `threadMain`, once, and only while the link is idle. `finish`
    /// is the worker's own ending (which calls ``finish(taking:release:)``), for a thread that
    /// cannot start.
    func start(finish: () -> Void, _ threadMain: @escaping @Sendable () -> Void) {
        let shouldSpawn = shared.withLock { shared in
            guard case .idle = shared.link, !shared.stopRequested else { return false }
            shared.link = .connecting(lastError: nil)
            return true
        }
        guard shouldSpawn else { return }
        do {
            try WorkerThread.spawn(name: "amqp-\(role)", threadMain)
        } catch {
            logger.error("cannot start the AMQP \(role)", metadata: ["error": "\(error)"])
            finish()
        }
    }

    /// Asks the thread to stop and wakes it; `finish` runs here instead when it never started.
    func stop(finish: () -> Void) {
        let neverStarted = shared.withLock { shared in
            shared.stopRequested = true
            if case .idle = shared.link { return true }
            return false
        }
        if neverStarted { finish() } else { wakeup.signal() }
    }

    func waitUntilStopped() async {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let stopped = shared.withLock { shared in
                if case .stopped = shared.link { return true }
                shared.exitWaiters.append(waiter)
                return false
            }
            if stopped { waiter.resume() }
        }
    }

    /// The thread's last act (or `stop()`'s, when it never started): marks the link stopped,
    /// takes what the worker still holds under the same lock, and lets `release` deal with it
    /// before anyone waiting for the end is released.
    func finish<Leftover: Sendable>(taking take: (inout State) -> Leftover, release: (Leftover) -> Void) {
        let (leftover, waiters) = shared.withLock { shared in
            shared.link = .stopped
            shared.stopRequested = true
            defer { shared.exitWaiters = [] }
            return (take(&shared.state), shared.exitWaiters)
        }
        release(leftover)
        for waiter in waiters { waiter.resume() }
    }

    // MARK: The worker thread

    /// Connects and serves until a stop is requested; a failed round waits out the backoff.
    /// - Parameters:
    ///   - prepare: declares the worker's topology on every new connection.
    ///   - connected: runs under the lock that marks the link connected.
    ///   - serve: uses the connection until it breaks or a stop is requested, and updates the
    ///     link for either ending; a lost connection is logged here afterwards.
    func runConnections(
        prepare: (RabbitMQConnection) throws(AMQPError) -> Void,
        connected: (inout State) -> Void = { _ in },
        serve: (RabbitMQConnection) -> Ending
    ) {
        var backoff = Backoff(initial: reconnectDelay, maximum: maxReconnectDelay)
        var reporter = OutageReporter(logger: logger, role: role)
        while !stopRequested {
            let round = connector.connect(shouldContinue: { !self.stopRequested }, prepare: prepare)
            guard let connection = round.connection else {
                let delay = backoff.next()
                let summary = round.failures.map(\.message).joined(separator: "; ")
                shared.withLock { $0.link = .connecting(lastError: summary) }
                if !round.failures.isEmpty { reporter.roundFailed(round.failures, retryIn: delay) }
                sleep(for: delay)
                continue
            }
            backoff.reset()
            shared.withLock { shared in
                shared.link = .connected(connection.url)
                connected(&shared.state)
            }
            reporter.connected(to: connection.url)

            if case .lost(let error) = serve(connection) {
                reporter.lost(connection.url, error: error)
            }
        }
    }

    /// Backoff between reconnect rounds; a stop ends it early.
    private func sleep(for delay: Duration) {
        let deadline = ContinuousClock.now + delay
        while !stopRequested {
            let remaining = deadline - .now
            guard remaining > .zero else { return }
            _ = wakeup.wait(socket: nil, timeout: remaining)
        }
    }
}
