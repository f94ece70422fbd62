import Logging
import NIOCore
import RelayCore
import Synchronization

/// The thread behind ``AMQPConsumer``: owns the consuming connection, declares this node's
/// queue, decodes deliveries and acknowledges them once the async handler is done.
///
/// Deliveries go to the handler through an `AsyncStream`; acknowledgements come back through
/// a mutex-protected slot and the wakeup pipe. The stream is unbounded on purpose: the
/// broker never sends more than `prefetch` unacknowledged messages, so that is its bound,
/// and the thread keeps serving heartbeats while the handler is slow.
final class ConsumerWorker: Sendable {
    struct Delivery: Sendable {
        /// Which connection delivered it: tags mean nothing on another connection.
        let generation: UInt64
        let tag: UInt64
        let events: [ForwardedEvent]
    }

    private struct Shared {
        var link = LinkState.idle
        var stopRequested = false
        var generation: UInt64 = 0
        /// The highest handled tag of the current generation not yet acknowledged; 0 = none.
        /// Handling is in delivery order, so one `multiple` ack covers everything below it.
        var acknowledgeUpTo: UInt64 = 0
        var exitWaiters: [CheckedContinuation<Void, Never>] = []
        var deliveriesClaimed = false
    }

    private enum Ending {
        case stopped
        case lost(AMQPError)
    }

    private let deliveries: AsyncStream<Delivery>
    private let deliveryInput: AsyncStream<Delivery>.Continuation
    private let shared = Mutex(Shared())
    private let wakeup: WakeupPipe
    private let connector: BrokerConnector
    private let topology: AMQPTopology
    private let nodeID: String
    private let prefetch: Int
    private let idleTick: Duration
    private let reconnectDelay: Duration
    private let maxReconnectDelay: Duration
    private let logger: Logger

    init(configuration: AMQPConfiguration, logger: Logger) throws(AMQPError) {
        try configuration.validate()
        wakeup = try WakeupPipe()
        connector = BrokerConnector(
            urls: try configuration.brokerURLs(), heartbeat: configuration.heartbeat, timeout: configuration.connectTimeout)
        topology = AMQPTopology(configuration)
        nodeID = configuration.nodeID
        prefetch = configuration.prefetch
        idleTick = ForwarderWorker.idleTick(heartbeat: configuration.heartbeat)
        reconnectDelay = configuration.reconnectDelay
        maxReconnectDelay = configuration.maxReconnectDelay
        self.logger = logger
        (deliveries, deliveryInput) = AsyncStream.makeStream(of: Delivery.self, bufferingPolicy: .unbounded)
    }

    // MARK: Called from any thread or task

    var link: LinkState { shared.withLock { $0.link } }

    /// An `AsyncStream` serves one iterating task; a second would crash somewhere less clear.
    func claimDeliveries() -> AsyncStream<Delivery> {
        let claimed = shared.withLock { shared in
            defer { shared.deliveriesClaimed = true }
            return shared.deliveriesClaimed
        }
        precondition(!claimed, "AMQPConsumer.run() must be called only once")
        return deliveries
    }

    func start() {
        let shouldSpawn = shared.withLock { shared in
            guard case .idle = shared.link, !shared.stopRequested else { return false }
            shared.link = .connecting(lastError: nil)
            return true
        }
        guard shouldSpawn else { return }
        do {
            try WorkerThread.spawn(name: "amqp-consumer") { self.threadMain() }
        } catch {
            logger.error("cannot start the AMQP consumer", metadata: ["error": "\(error)"])
            finish()
        }
    }

    /// Closes the connection without waiting for handlers: the broker requeues what was not
    /// acknowledged, for this node's next run (within the message TTL).
    func stop() {
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

    /// False once the connection that delivered it is gone: the broker redelivers such a
    /// message on the next connection, so handling this copy too would only duplicate it.
    func isCurrent(_ delivery: Delivery) -> Bool {
        shared.withLock { shared in
            guard case .connected = shared.link else { return false }
            return shared.generation == delivery.generation
        }
    }

    /// The handler is done with `delivery`: let the broker send the next one.
    func acknowledge(_ delivery: Delivery) {
        let wake = shared.withLock { shared in
            guard shared.generation == delivery.generation, delivery.tag > shared.acknowledgeUpTo else { return false }
            let wasIdle = shared.acknowledgeUpTo == 0
            shared.acknowledgeUpTo = delivery.tag
            return wasIdle
        }
        if wake { wakeup.signal() }
    }

    // MARK: The worker thread

    private var stopRequested: Bool { shared.withLock { $0.stopRequested } }

    private func threadMain() {
        var backoff = Backoff(initial: reconnectDelay, maximum: maxReconnectDelay)
        var reporter = OutageReporter(logger: logger, role: "consumer")
        let queue = topology.queue(for: nodeID)
        while !stopRequested {
            // Declared again on every connect: a broker restart (or a failover to another
            // cluster node) loses a non-durable queue, and redeclaring is idempotent.
            let round = connector.connect(shouldContinue: { !self.stopRequested }) { connection throws(AMQPError) in
                try connection.declareExchange(topology.exchange)
                try connection.declareQueue(queue, expires: topology.queueExpires, messageTTL: topology.messageTTL)
                try connection.bindQueue(queue, exchange: topology.exchange, routingKey: topology.routingKey(for: nodeID))
                try connection.setPrefetch(prefetch)
                try connection.consume(queue: queue)
            }
            guard let connection = round.connection else {
                let delay = backoff.next()
                let summary = round.failures.map(\.message).joined(separator: "; ")
                shared.withLock { $0.link = .connecting(lastError: summary) }
                if !round.failures.isEmpty { reporter.roundFailed(round.failures, retryIn: delay) }
                sleep(for: delay)
                continue
            }
            backoff.reset()
            let generation = shared.withLock { shared in
                shared.link = .connected(connection.url)
                shared.generation += 1
                shared.acknowledgeUpTo = 0
                return shared.generation
            }
            reporter.connected(to: connection.url)

            switch serve(connection, generation: generation) {
            case .stopped:
                connection.close()
            case .lost(let error):
                shared.withLock { $0.link = .connecting(lastError: error.message) }
                reporter.lost(connection.url, error: error)
            }
        }
        finish()
    }

    private func serve(_ connection: RabbitMQConnection, generation: UInt64) -> Ending {
        let socket = connection.socketDescriptor
        while true {
            let (stopping, acknowledgeUpTo) = shared.withLock { shared in
                defer { shared.acknowledgeUpTo = 0 }
                return (shared.stopRequested, shared.acknowledgeUpTo)
            }
            if stopping { return .stopped }
            do {
                if acknowledgeUpTo > 0 { try connection.acknowledge(upTo: acknowledgeUpTo, multiple: true) }
                try readFrames(connection, generation: generation)
            } catch {
                return .lost(error)
            }
            if connection.hasBufferedInput { continue }
            _ = wakeup.wait(socket: socket, timeout: idleTick)
        }
    }

    private func readFrames(_ connection: RabbitMQConnection, generation: UInt64) throws(AMQPError) {
        defer { connection.releaseBuffers() }
        while let frame = try connection.nextFrame() {
            switch frame {
            case .deliver(let tag):
                let content = try connection.readContent()
                let events: [ForwardedEvent]
                do {
                    events = try ForwardedBatchCodec.decode(content.body)
                } catch {
                    // Whoever sent it, it will not decode any better next time: requeueing
                    // would loop it forever, so it is acknowledged and dropped.
                    logger.warning(
                        "dropping a malformed forwarded message",
                        metadata: [
                            "error": "\(error)", "amqp.message_id": "\(content.messageID ?? "")",
                            "amqp.body_bytes": "\(content.body.readableBytes)",
                        ])
                    try connection.acknowledge(upTo: tag, multiple: false)
                    continue
                }
                if events.isEmpty {
                    try connection.acknowledge(upTo: tag, multiple: false)
                } else {
                    deliveryInput.yield(Delivery(generation: generation, tag: tag, events: events))
                }
            case .returned:
                _ = try connection.readContent()
            case .consumerCancelled:
                throw AMQPError(.brokerClosed, "\(connection.url): the broker cancelled the consumer (queue deleted?)")
            case .closed(let error):
                throw error
            case .ack, .nack, .other:
                break
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

    private func finish() {
        let waiters = shared.withLock { shared in
            shared.link = .stopped
            shared.stopRequested = true
            defer { shared.exitWaiters = [] }
            return shared.exitWaiters
        }
        deliveryInput.finish()
        for waiter in waiters { waiter.resume() }
    }
}
