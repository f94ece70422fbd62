import Logging
import RelayCore

/// Receives the event batches other nodes forward to this node's queue.
///
/// Guarantee: at least once, in queue order. A message is acknowledged only after `handler`
/// returned for it, and at most `prefetch` messages are unacknowledged, so a stalled handler
/// stops consumption (the broker holds the rest, up to the message TTL) instead of buffering
/// here. After a reconnect the broker redelivers what was not acknowledged, which the handler
/// may then see twice. Malformed messages are logged and dropped.
///
/// The connection lives on a thread of its own (see `ConsumerWorker`); `handler` runs in the
/// task that called ``run()``, one batch at a time.
public final class AMQPConsumer: Sendable {
    private let worker: ConsumerWorker
    private let handler: @Sendable ([ForwardedEvent]) async -> Void
    private let control: @Sendable (ControlMessage) async -> Void

    /// Checks the configuration (URLs, names, ranges); connects only in ``run()``.
    ///
    /// - Parameter control: admin requests and replies from other nodes (see
    ///   ``ControlMessageCodec``), in queue order with the events; it should not wait long.
    public init(
        configuration: AMQPConfiguration, logger: Logger, handler: @escaping @Sendable ([ForwardedEvent]) async -> Void,
        control: @escaping @Sendable (ControlMessage) async -> Void = { _ in }
    ) throws(AMQPError) {
        var logger = logger
        logger[metadataKey: "node.id"] = "\(configuration.nodeID)"
        worker = try ConsumerWorker(configuration: configuration, logger: logger)
        self.handler = handler
        self.control = control
    }

    deinit {
        worker.stop()
    }

    /// Connects, consumes and calls the handler until ``shutdown()`` or the task's
    /// cancellation; returns once the connection is closed.
    ///
    /// - Important: call it once; the deliveries can be iterated by one task only.
    public func run() async {
        let deliveries = worker.claimDeliveries()
        worker.start()
        await withTaskCancellationHandler {
            for await delivery in deliveries {
                guard worker.isCurrent(delivery) else { continue }
                switch delivery.message {
                case .events(let events): await handler(events)
                case .control(let message): await control(message)
                }
                worker.acknowledge(delivery)
            }
        } onCancel: {
            worker.stop()
        }
        await worker.waitUntilStopped()
    }

    /// Closes the connection without waiting for the handler; unacknowledged messages go
    /// back to the queue. ``run()`` returns when it is done.
    public func shutdown() {
        worker.stop()
    }

    /// True while consuming: queue declared and bound, consumer registered.
    public var isConnected: Bool { worker.link.url != nil }

    /// Advances at least once a second while the worker thread is alive and not stuck (a
    /// watchdog's evidence of progress).
    public var progress: UInt64 { worker.progress }

    /// The broker in use (password masked), or nil while disconnected.
    public var connectedBroker: String? { worker.link.url?.description }
}
