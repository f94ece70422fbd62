import Logging
import NIOCore
import RelayCore

/// The thread behind ``AMQPForwarder``: owns the publishing connection, reconnects it, and
/// turns publisher confirms into outcomes for the async callers waiting on them.
///
/// Callers hand requests over through a mutex-protected queue and a wakeup pipe; the thread
/// takes the whole queue at once, publishes every request, and only then reads confirms. That
/// pipelining is where the throughput comes from: one broker round trip per burst instead of
/// per message, with `multiple` acks resolving many at once.
final class ForwarderWorker: Sendable {
    /// Told the outcome once, on the worker thread (or the caller's, when refused at once).
    typealias Waiter = @Sendable (ForwardOutcome) -> Void

    struct Request: Sendable {
        var routingKey: String
        var messageID: String
        var body: ByteBuffer
        var waiter: Waiter
        /// An event batch (``ForwardedBatchCodec``): consecutive ones for the same node may
        /// go as one message, since concatenated batches are a batch.
        var mergeable: Bool
    }

    /// The largest message merging builds; a single larger request still goes alone.
    static let maxMergedBytes = 1 << 20

    private struct State {
        var queue: [Request] = []
        /// Why the broker blocks this connection's publishes (connection.blocked), until it
        /// unblocks it or the connection ends.
        var blocked: String?
    }

    private typealias Ending = WorkerLifecycle<State>.Ending

    static let contentType = "application/x-sse-relay-batch"

    private let lifecycle: WorkerLifecycle<State>
    private let topology: AMQPTopology
    private let nodeID: String
    private let confirmTimeout: Duration
    private let logger: Logger

    init(configuration: AMQPConfiguration, logger: Logger) throws(AMQPError) {
        lifecycle = try WorkerLifecycle(role: "forwarder", configuration: configuration, state: State(), logger: logger)
        topology = AMQPTopology(configuration)
        nodeID = configuration.nodeID
        confirmTimeout = configuration.confirmTimeout
        self.logger = logger
    }

    // MARK: Called from any thread or task

    var link: LinkState { lifecycle.link }
    /// Advances each time the worker thread wakes up; see ``WakeupPipe/progress``.
    var progress: UInt64 { lifecycle.wakeup.progress.load(ordering: .relaxed) }

    func start() {
        lifecycle.start(finish: finish) { self.threadMain() }
    }

    /// Stops accepting requests; the thread publishes what it already accepted, waits for
    /// their confirms (at most one confirm timeout), closes the connection and exits.
    func stop() {
        lifecycle.stop(finish: finish)
    }

    func waitUntilStopped() async {
        await lifecycle.waitUntilStopped()
    }

    /// Queues one message; resolves when the broker confirmed, returned or rejected it, or
    /// at once with `.unavailable` while there is no connection: a caller must never wait
    /// for a reconnect it cannot see the end of.
    func publish(body: ByteBuffer, routingKey: String, messageID: String) async -> ForwardOutcome {
        await withCheckedContinuation { continuation in
            submit(body: body, routingKey: routingKey, messageID: messageID, mergeable: false) { continuation.resume(returning: $0) }
        }
    }

    /// The same without a task: messages leave in the order of these calls, and `waiter`
    /// runs on the worker thread when the outcome is known (it must not block).
    /// `mergeable`: the body is an event batch (see ``Request/mergeable``).
    func submit(body: ByteBuffer, routingKey: String, messageID: String, mergeable: Bool, waiter: @escaping Waiter) {
        let request = Request(routingKey: routingKey, messageID: messageID, body: body, waiter: waiter, mergeable: mergeable)
        let (refusal, wake): (ForwardOutcome?, Bool) = lifecycle.withLock { shared in
            guard case .connected = shared.link, !shared.stopRequested else {
                return (.unavailable(shared.link.unavailableReason(role: "forwarder")), false)
            }
            if let reason = shared.state.blocked { return (.blocked(reason), false) }
            shared.state.queue.append(request)
            // The thread takes the whole queue at once: only the first request after
            // that needs to wake it, later ones ride along.
            return (nil, shared.state.queue.count == 1)
        }
        if let refusal {
            waiter(refusal)
        } else if wake {
            lifecycle.wakeup.signal()
        }
    }

    // MARK: The worker thread

    private func threadMain() {
        lifecycle.runConnections { connection throws(AMQPError) in
            // The exchange only: declaring other nodes' queues here would hide a gone
            // node (no `.noRoute`) and keep its queue from ever expiring.
            try connection.declareExchange(topology.exchange)
            try connection.selectConfirms()
        } serve: { connection in
            let ending = serve(connection)

            let lostError: AMQPError? = if case .lost(let error) = ending { error } else { nil }
            let unsent = lifecycle.withLock { shared in
                // Refuse new requests before failing the queued ones, under the same lock,
                // so no request slips in between and waits for a connection that is gone.
                shared.link = .connecting(lastError: lostError?.message)
                shared.state.blocked = nil  // a new connection is told again if the alarm holds
                defer { shared.state.queue = [] }
                return shared.state.queue
            }
            if let lostError {
                fail(unsent, with: .unavailable("the connection to RabbitMQ was lost: \(lostError.message)"))
            } else {
                connection.close()
                fail(unsent, with: .unavailable("the AMQP forwarder is shut down"))
            }
            return ending
        }
        finish()
    }

    /// Publishes, reads confirms and sleeps until the connection breaks or a stop completes.
    private func serve(_ connection: RabbitMQConnection) -> Ending {
        var tracker = ConfirmTracker<Waiter>()
        var nextTag: UInt64 = 1
        var stopDeadline: ContinuousClock.Instant?
        let socket = connection.socketDescriptor
        let url = connection.url

        func lose(_ error: AMQPError) -> Ending {
            resolve(tracker.failAll(reason: "the connection to \(url) was lost before the broker confirmed: \(error.message)"))
            return .lost(error)
        }

        while true {
            let (requests, stopping, blocked) = lifecycle.withLock { shared in
                defer { shared.state.queue = [] }
                return (shared.state.queue, shared.stopRequested, shared.state.blocked)
            }
            if let blocked {
                // Queued before the broker's notice arrived: refused like the ones after it.
                fail(requests, with: .blocked(blocked))
            } else {
                for (range, request) in Self.merged(requests) {
                    let message = RabbitMQConnection.Message(
                        exchange: topology.exchange, routingKey: request.routingKey, contentType: Self.contentType,
                        messageID: request.messageID, appID: nodeID, correlationID: String(nextTag), body: request.body)
                    do {
                        try connection.publish(message)
                    } catch {
                        // A failed publish never reaches a queue (the broker drops partial
                        // messages with the connection), so these were not sent at all.
                        fail(requests[range.lowerBound...], with: .unavailable("the connection to RabbitMQ was lost: \(error.message)"))
                        return lose(error)
                    }
                    tracker.append(tag: nextTag, token: request.waiter, deadline: .now + confirmTimeout)
                    nextTag += 1
                }
            }

            do {
                try readFrames(connection, into: &tracker)
            } catch {
                return lose(error)
            }

            let now = ContinuousClock.now
            resolve(tracker.expire(now: now, reason: "no publisher confirm from \(url) within \(confirmTimeout)"))

            if stopping {
                let deadline = stopDeadline ?? now + confirmTimeout
                stopDeadline = deadline
                if tracker.isEmpty { return .stopped }
                if now >= deadline {
                    resolve(tracker.failAll(reason: "shut down before the broker confirmed"))
                    return .stopped
                }
            }

            if connection.hasBufferedInput { continue }
            var timeout = lifecycle.idleTick
            if let deadline = tracker.nextDeadline { timeout = min(timeout, deadline - now) }
            if let stopDeadline { timeout = min(timeout, stopDeadline - now) }
            _ = lifecycle.wakeup.wait(socket: socket, timeout: timeout)
        }
    }

    /// The queue as messages: runs of event batches for the same node become one message
    /// (one publish, one confirm, one delivery on the other side instead of one per call),
    /// whose outcome goes to every caller in the run. Each message comes with the range of
    /// requests it carries, in order.
    static func merged(_ requests: [Request]) -> [(Range<Int>, Request)] {
        var out: [(Range<Int>, Request)] = []
        out.reserveCapacity(requests.count)
        var index = 0
        while index < requests.count {
            let first = requests[index]
            var end = index + 1
            var size = first.body.readableBytes
            while first.mergeable, end < requests.count, requests[end].mergeable, requests[end].routingKey == first.routingKey,
                size + requests[end].body.readableBytes <= maxMergedBytes
            {
                size += requests[end].body.readableBytes
                end += 1
            }
            if end == index + 1 {
                out.append((index..<end, first))
            } else {
                let run = requests[index..<end]
                var body = ByteBuffer()
                body.reserveCapacity(size)
                for request in run {
                    var part = request.body
                    body.writeBuffer(&part)
                }
                let waiters = run.map(\.waiter)
                let merged = Request(
                    routingKey: first.routingKey, messageID: first.messageID, body: body,
                    waiter: { outcome in for waiter in waiters { waiter(outcome) } }, mergeable: true)
                out.append((index..<end, merged))
            }
            index = end
        }
        return out
    }

    /// Handles every frame that has arrived, without blocking for more.
    private func readFrames(_ connection: RabbitMQConnection, into tracker: inout ConfirmTracker<Waiter>) throws(AMQPError) {
        defer { connection.releaseBuffers() }
        while let frame = try connection.nextFrame() {
            switch frame {
            case .ack(let tag, let multiple):
                resolve(tracker.acknowledge(tag: tag, multiple: multiple))
            case .nack(let tag, let multiple):
                resolve(tracker.reject(tag: tag, multiple: multiple))
            case .returned(let replyCode, let replyText):
                // The content must be read off the wire in any case; its correlation id is
                // the only link between a return and the publish it answers.
                let content = try connection.readContent()
                if let text = content.correlationID, let tag = UInt64(text), tracker.markReturned(tag: tag) {
                    logger.debug(
                        "RabbitMQ returned a forwarded message",
                        metadata: ["amqp.reply": "\(replyCode) \(replyText)", "event.id": "\(content.messageID ?? "")"])
                } else {
                    logger.warning(
                        "RabbitMQ returned a message that is not pending", metadata: ["amqp.reply": "\(replyCode) \(replyText)"])
                }
            case .deliver:
                _ = try connection.readContent()
            case .closed(let error):
                throw error
            case .blocked(let reason):
                lifecycle.withLock { $0.state.blocked = reason }
                logger.warning(
                    "RabbitMQ blocks publishing: events for other nodes are refused (status blocked) until it lifts the alarm",
                    metadata: ["amqp.url": "\(connection.url)", "amqp.reason": "\(reason)"])
            case .unblocked:
                lifecycle.withLock { $0.state.blocked = nil }
                logger.notice("RabbitMQ unblocked publishing", metadata: ["amqp.url": "\(connection.url)"])
            case .consumerCancelled, .other:
                break
            }
        }
    }

    private func resolve(_ outcomes: [(Waiter, ForwardOutcome)]) {
        for (waiter, outcome) in outcomes { waiter(outcome) }
    }

    private func fail(_ requests: some Sequence<Request>, with outcome: ForwardOutcome) {
        for request in requests { request.waiter(outcome) }
    }

    /// The thread's last act (or `stop()`'s, when it never started): refuse what is left,
    /// then release everyone waiting for the end.
    private func finish() {
        lifecycle.finish { state in
            defer { state.queue = [] }
            return state.queue
        } release: { unsent in
            fail(unsent, with: .unavailable("the AMQP forwarder is shut down"))
        }
    }
}
