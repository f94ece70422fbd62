import Logging
import NIOCore
import RelayCore

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
        let message: NodeMessage
    }

    private struct State {
        var generation: UInt64 = 0
        /// The highest handled tag of the current generation not yet acknowledged; 0 = none.
        /// Handling is in delivery order, so one `multiple` ack covers everything below it.
        var acknowledgeUpTo: UInt64 = 0
        var deliveriesClaimed = false
        /// Malformed messages are warned about at most once per 10 s (a sender stuck in a
        /// loop must not flood the journal).
        var malformedLog = LogThrottle()
    }

    private typealias Ending = WorkerLifecycle<State>.Ending

    private let deliveries: AsyncStream<Delivery>
    private let deliveryInput: AsyncStream<Delivery>.Continuation
    private let lifecycle: WorkerLifecycle<State>
    private let topology: AMQPTopology
    private let nodeID: String
    private let prefetch: Int
    private let logger: Logger

    init(configuration: AMQPConfiguration, logger: Logger) throws(AMQPError) {
        lifecycle = try WorkerLifecycle(role: "consumer", configuration: configuration, state: State(), logger: logger)
        topology = AMQPTopology(configuration)
        nodeID = configuration.nodeID
        prefetch = configuration.prefetch
        self.logger = logger
        (deliveries, deliveryInput) = AsyncStream.makeStream(of: Delivery.self, bufferingPolicy: .unbounded)
    }

    // MARK: Called from any thread or task

    var link: LinkState { lifecycle.link }
    /// Advances each time the worker thread wakes up; see ``WakeupPipe/progress``.
    var progress: UInt64 { lifecycle.wakeup.progress.load(ordering: .relaxed) }

    /// An `AsyncStream` serves one iterating task; a second would crash somewhere less clear.
    func claimDeliveries() -> AsyncStream<Delivery> {
        let claimed = lifecycle.withLock { shared in
            defer { shared.state.deliveriesClaimed = true }
            return shared.state.deliveriesClaimed
        }
        precondition(!claimed, "AMQPConsumer.run() must be called only once")
        return deliveries
    }

    func start() {
        lifecycle.start(finish: finish) { self.threadMain() }
    }

    /// Closes the connection without waiting for handlers: the broker requeues what was not
    /// acknowledged, for this node's next run (within the message TTL).
    func stop() {
        lifecycle.stop(finish: finish)
    }

    func waitUntilStopped() async {
        await lifecycle.waitUntilStopped()
    }

    /// False once the connection that delivered it is gone: the broker redelivers such a
    /// message on the next connection, so handling this copy too would only duplicate it.
    func isCurrent(_ delivery: Delivery) -> Bool {
        lifecycle.withLock { shared in
            guard case .connected = shared.link else { return false }
            return shared.state.generation == delivery.generation
        }
    }

    /// The handler is done with `delivery`: let the broker send the next one.
    func acknowledge(_ delivery: Delivery) {
        let wake = lifecycle.withLock { shared in
            guard shared.state.generation == delivery.generation, delivery.tag > shared.state.acknowledgeUpTo else {
                return false
            }
            let wasIdle = shared.state.acknowledgeUpTo == 0
            shared.state.acknowledgeUpTo = delivery.tag
            return wasIdle
        }
        if wake { lifecycle.wakeup.signal() }
    }

    // MARK: The worker thread

    private func threadMain() {
        let queue = topology.queue(for: nodeID)
        // Declared again on every connect: a broker restart (or a failover to another
        // cluster node) loses a non-durable queue, and redeclaring is idempotent.
        lifecycle.runConnections { connection throws(AMQPError) in
            try connection.declareExchange(topology.exchange)
            try connection.declareQueue(queue, expires: topology.queueExpires, messageTTL: topology.messageTTL)
            try connection.bindQueue(queue, exchange: topology.exchange, routingKey: topology.routingKey(for: nodeID))
            try connection.setPrefetch(prefetch)
            try connection.consume(queue: queue)
        } connected: { state in
            state.generation += 1
            state.acknowledgeUpTo = 0
        } serve: { connection in
            let ending = serve(connection)
            switch ending {
            case .stopped:
                connection.close()
            case .lost(let error):
                lifecycle.withLock { $0.link = .connecting(lastError: error.message) }
            }
            return ending
        }
        finish()
    }

    private func serve(_ connection: RabbitMQConnection) -> Ending {
        // Only this thread changes the generation (in `connected`, above).
        let generation = lifecycle.withLock { $0.state.generation }
        let socket = connection.socketDescriptor
        while true {
            let (stopping, acknowledgeUpTo) = lifecycle.withLock { shared in
                defer { shared.state.acknowledgeUpTo = 0 }
                return (shared.stopRequested, shared.state.acknowledgeUpTo)
            }
            if stopping { return .stopped }
            do {
                if acknowledgeUpTo > 0 { try connection.acknowledge(upTo: acknowledgeUpTo, multiple: true) }
                try readFrames(connection, generation: generation)
            } catch {
                return .lost(error)
            }
            if connection.hasBufferedInput { continue }
            _ = lifecycle.wakeup.wait(socket: socket, timeout: lifecycle.idleTick)
        }
    }

    private func readFrames(_ connection: RabbitMQConnection, generation: UInt64) throws(AMQPError) {
        defer { connection.releaseBuffers() }
        while let frame = try connection.nextFrame() {
            switch frame {
            case .deliver(let tag):
                let content = try connection.readContent()
                let message: NodeMessage
                do {
                    message = try NodeMessage.decode(content.body)
                } catch {
                    // Whoever sent it, it will not decode any better next time: requeueing
                    // would loop it forever, so it is acknowledged and dropped.
                    let now = NIODeadline.now().uptimeNanoseconds
                    let (log, suppressed) = lifecycle.withLock { $0.state.malformedLog.record(now: now) }
                    if log {
                        logger.warning(
                            "dropping a malformed forwarded message",
                            metadata: [
                                "error": "\(error)", "amqp.message_id": "\(content.messageID ?? "")",
                                "amqp.body_bytes": "\(content.body.readableBytes)",
                                "amqp.malformed_not_logged": "\(suppressed)",
                            ])
                    }
                    try connection.acknowledge(upTo: tag, multiple: false)
                    continue
                }
                if case .events(let events) = message, events.isEmpty {
                    try connection.acknowledge(upTo: tag, multiple: false)
                } else {
                    deliveryInput.yield(Delivery(generation: generation, tag: tag, message: message))
                }
            case .returned:
                _ = try connection.readContent()
            case .consumerCancelled:
                throw AMQPError(.brokerClosed, "\(connection.url): the broker cancelled the consumer (queue deleted?)")
            case .closed(let error):
                throw error
            case .ack, .nack, .other:
                break
            case .blocked, .unblocked:
                break  // an alarm holds back publishes only; this connection consumes and acknowledges
            }
        }
    }

    private func finish() {
        lifecycle.finish(taking: { _ in }, release: { deliveryInput.finish() })
    }
}
