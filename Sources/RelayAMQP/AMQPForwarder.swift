import Logging
import NIOCore
import RelayCore

/// Sends event batches to other nodes' queues through RabbitMQ: one message per call, or
/// per run of calls for the same node that were queued while the previous publishes went
/// out (the batches are concatenated; each caller gets the message's outcome).
///
/// Guarantee: `.confirmed` means the broker acknowledged the message with a publisher
/// confirm and did not return it, i.e. it sits in the target node's queue (which drops it
/// after the message TTL if that node does not consume it in time). Messages to one node
/// keep the order of the calls that sent them.
///
/// The connection lives on a thread of its own (see `ForwarderWorker`); `forward` never
/// blocks a task on it. While disconnected, `forward` answers `.unavailable` at once and the
/// thread reconnects in the background.
public final class AMQPForwarder: EventForwarder, ControlSender, Sendable {
    private let worker: ForwarderWorker
    private let topology: AMQPTopology

    /// Checks the configuration (URLs, names, ranges); connects only in ``start()``.
    public init(configuration: AMQPConfiguration, logger: Logger) throws(AMQPError) {
        var logger = logger
        logger[metadataKey: "node.id"] = "\(configuration.nodeID)"
        worker = try ForwarderWorker(configuration: configuration, logger: logger)
        topology = AMQPTopology(configuration)
    }

    deinit {
        worker.stop()
    }

    /// Starts the connection thread. Idempotent; does nothing after ``shutdown()``.
    public func start() {
        worker.start()
    }

    /// Refuses new forwards, lets the accepted ones finish (at most one confirm timeout),
    /// then closes the connection. Returns at once; ``run()`` returns when it is done.
    public func shutdown() {
        worker.stop()
    }

    /// Starts, then returns after ``shutdown()`` or the task's cancellation, once the
    /// connection is closed: the shape of a service's `run()`.
    public func run() async {
        start()
        await withTaskCancellationHandler {
            await worker.waitUntilStopped()
        } onCancel: {
            worker.stop()
        }
    }

    /// True while a broker connection is up and its topology declared.
    public var isConnected: Bool { worker.link.url != nil }

    /// Advances at least once a second while the worker thread is alive and not stuck (a
    /// watchdog's evidence of progress).
    public var progress: UInt64 { worker.progress }

    /// The broker in use (password masked), or nil while disconnected.
    public var connectedBroker: String? { worker.link.url?.description }

    /// Publishes `events` as one message to `node`'s queue and tells `completion` the
    /// broker's verdict (at most the confirm timeout later), on the connection's thread.
    /// An empty batch is trivially `.confirmed`; a node id that cannot name a queue is
    /// `.noRoute`.
    public func forward(_ events: [ForwardedEvent], to node: String, completion: @escaping @Sendable (ForwardOutcome) -> Void) {
        guard let first = events.first else { return completion(.confirmed) }
        let routingKey = topology.routingKey(for: node)
        guard !node.isEmpty, routingKey.utf8.count <= 255 else { return completion(.noRoute) }
        worker.submit(
            body: ForwardedBatchCodec.encode(events), routingKey: routingKey, messageID: first.id.description, mergeable: true,
            waiter: completion)
    }

    /// Sends an admin request or reply to `node`'s queue, like an event batch (same
    /// confirm, same order, same message TTL).
    public func send(_ message: ControlMessage, to node: String) async -> ForwardOutcome {
        let routingKey = topology.routingKey(for: node)
        guard !node.isEmpty, routingKey.utf8.count <= 255 else { return .noRoute }
        let messageID: String
        switch message {
        case .request(let request): messageID = "control-request-" + request.id
        case .reply(let reply): messageID = "control-reply-" + reply.id
        }
        return await worker.publish(body: ControlMessageCodec.encode(message), routingKey: routingKey, messageID: messageID)
    }

    /// Publishes a body as it is, bypassing the codec: lets tests send what a broken or
    /// hostile peer might.
    func forward(rawBody body: ByteBuffer, to node: String, messageID: String) async -> ForwardOutcome {
        await worker.publish(body: body, routingKey: topology.routingKey(for: node), messageID: messageID)
    }
}
