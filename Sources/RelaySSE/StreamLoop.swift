import NIOCore
import RelayCore
import Synchronization

/// Everything streams on one event loop share: the delivery queue the hub fills, and one
/// timer that sends keep-alives and ends streams at their lifetime.
///
/// One timer per loop instead of one per connection: 10,000 streams cost one scheduled
/// task, and a sweep over them every tick costs microseconds.
final class StreamLoop: Sendable {
    let eventLoop: any EventLoop
    let queue: DeliveryQueue<SSEStream>
    private let streams: NIOLoopBoundBox<Streams>

    /// Loop-confined registry of open streams, and of connections still owing a request.
    final class Streams {
        var open: [ObjectIdentifier: SSEStreamHandler] = [:]
        /// Connections whose request is not complete yet (or not started): the sweep
        /// closes those past their deadline, so a connection needs no timer of its own.
        var awaitingRequest: [ObjectIdentifier: SSEStreamHandler] = [:]
        var sweep: RepeatedTask?
        /// Which slice of the streams the next sweep samples.
        var samplePhase = 0
        /// Streams given a lifetime so far (see ``lifetime(upTo:)``).
        var lifetimes: UInt64 = 0
    }

    /// Streams whose buffer one sweep samples for `sse_relay_stream_buffer_bytes`, in
    /// rotation. A sweep runs on the loop that also delivers events: sampling all 5,000
    /// streams of a loop at once took 7-11 ms, a stall every event arriving meanwhile waited
    /// out (it was the p99.9 of the 5,000 events/s benchmark).
    private static let samplesPerSweep = 64
    private let metrics: RelayMetrics

    /// Frames waiting for this loop, and whether a drain is already scheduled. Publishes
    /// that arrive while the loop is busy join the same drain: one task and one flush per
    /// stream for all of them, instead of a wake-up per publish.
    private final class Pending: Sendable {
        /// `since`: when the first of the waiting frames was queued (for the latency metric).
        let state = Mutex<(deliveries: [Delivery<SSEStream>], scheduled: Bool, since: NIODeadline)>(([], false, .distantPast))
    }

    private let pending = Pending()

    init(eventLoop: any EventLoop, metrics: RelayMetrics = RelayMetrics()) {
        self.eventLoop = eventLoop
        self.metrics = metrics
        self.streams = NIOLoopBoundBox.makeBoxSendingValue(Streams(), eventLoop: eventLoop)
        let pending = self.pending
        self.queue = DeliveryQueue { batch in
            // Runs under the hub's lock, so appends keep id order across publishers.
            let schedule = pending.state.withLock { pending in
                pending.deliveries.append(contentsOf: batch)
                defer { pending.scheduled = true }
                if !pending.scheduled { pending.since = .now() }
                return !pending.scheduled
            }
            guard schedule else { return }
            eventLoop.execute {
                let (batch, since) = pending.state.withLock { pending in
                    pending.scheduled = false
                    return (pending.deliveries.take(), pending.since)
                }
                Self.write(batch)
                // One sample per drain, for its oldest frame: the cost stays per wake-up,
                // not per event.
                metrics.publishToWrite.recordNanoseconds((NIODeadline.now() - since).nanoseconds)
            }
        }
    }

    /// Writes every frame, then flushes each touched stream once: one syscall per stream
    /// per drain, however many events the drain held for it.
    private static func write(_ batch: [Delivery<SSEStream>]) {
        var touched: [SSEStreamHandler] = []
        for delivery in batch {
            let handler = delivery.subscriber.handler.value
            if handler.enqueue(delivery.frame, sequence: delivery.sequence) {
                touched.append(handler)
            }
        }
        for handler in touched {
            handler.flushPending()
        }
    }

    /// - Important: call on `eventLoop`.
    func register(_ handler: SSEStreamHandler) {
        streams.value.open[ObjectIdentifier(handler)] = handler
    }

    /// A stream's lifetime, between 90% and 100% of `maximum`, so that streams opened together
    /// do not all end (and reconnect) together. The fractions follow a Weyl sequence (the
    /// golden ratio times a counter), which spreads them more evenly than random draws and
    /// costs no `getrandom` call per connect (1% of a connect's CPU in the churn profile).
    /// - Important: call on `eventLoop`.
    func lifetime(upTo maximum: Duration) -> TimeAmount {
        streams.value.lifetimes &+= 1
        let fraction = Double((streams.value.lifetimes &* 0x9E37_79B9_7F4A_7C15) >> 11) / Double(UInt64(1) << 53)
        return .nanoseconds(Int64(Double(maximum.nanoseconds) * (1 - fraction / 10)))
    }

    /// - Important: call on `eventLoop`.
    func deregister(_ handler: SSEStreamHandler) {
        streams.value.open[ObjectIdentifier(handler)] = nil
    }

    /// Puts `handler` under the sweep's request deadline check: it owes a request.
    /// - Important: call on `eventLoop`.
    func watchRequest(of handler: SSEStreamHandler) {
        streams.value.awaitingRequest[ObjectIdentifier(handler)] = handler
    }

    /// Takes `handler` out of the check: its request arrived, or it closed.
    /// - Important: call on `eventLoop`.
    func unwatchRequest(of handler: SSEStreamHandler) {
        streams.value.awaitingRequest[ObjectIdentifier(handler)] = nil
    }

    /// Streams one sweep task visits before it lets the loop do I/O: a visit costs about
    /// 160 ns (mostly cache misses), so a loop with 5,000 streams would otherwise stop
    /// delivering for 0.8 ms or more every tick.
    private static let sweepChunk = 512
    /// The gap before the next chunk. It must be a scheduled task with a deadline still
    /// ahead: NIO runs every task that is ready (including ones queued by the task it is
    /// running) before it polls the sockets again.
    private static let sweepGap = TimeAmount.microseconds(100)

    /// Starts the sweep; `tick` bounds how late a keep-alive, a lifetime close or a request
    /// deadline can be.
    /// `keepAlive` is read once per sweep (it can change on reload), not once per stream.
    func start(tick: TimeAmount, keepAlive: @escaping @Sendable () -> TimeAmount) {
        let streams = self.streams
        eventLoop.execute {
            streams.value.sweep = self.eventLoop.scheduleRepeatedTask(initialDelay: tick, delay: tick) { _ in
                let now = NIODeadline.now()
                // Not chunked: few connections owe a request at any moment, unless a
                // slowloris crowd does, and then closing them is the loop's best use.
                for handler in Array(streams.value.awaitingRequest.values) {
                    handler.checkRequestDeadline(now: now)
                }
                // A snapshot: streams the sweep closes leave `open` while it runs.
                let open = Array(streams.value.open.values)
                let stride = max(1, open.count / Self.samplesPerSweep)
                let phase = streams.value.samplePhase % stride
                streams.value.samplePhase &+= 1
                self.sweep(open[...], now: now, keepAlive: keepAlive(), sampling: (stride, phase))
            }
        }
    }

    /// Ticks the first chunk of `handlers` and schedules the rest after the loop's next poll.
    private func sweep(_ handlers: ArraySlice<SSEStreamHandler>, now: NIODeadline, keepAlive: TimeAmount, sampling: (stride: Int, phase: Int)) {
        let chunk = handlers.prefix(Self.sweepChunk)
        for (position, handler) in zip(chunk.indices, chunk) {
            handler.tick(now: now, keepAlive: keepAlive)
            if position % sampling.stride == sampling.phase, let bytes = handler.bufferedBytes {
                metrics.streamBufferBytes.record(bytes)
            }
        }
        let rest = handlers.dropFirst(Self.sweepChunk)
        guard !rest.isEmpty else { return }
        let next = NIOLoopBound(rest, eventLoop: eventLoop)
        eventLoop.scheduleTask(in: Self.sweepGap) {
            self.sweep(next.value, now: now, keepAlive: keepAlive, sampling: sampling)
        }
    }

    /// Closes every stream on this loop at random moments within `period`, each after a
    /// short retry hint; returns once the last one is closed.
    func drain(over period: Duration) -> EventLoopFuture<Void> {
        let streams = self.streams
        let eventLoop = self.eventLoop
        return eventLoop.flatSubmit {
            let handlers = Array(streams.value.open.values)
            let nanoseconds = max(period.nanoseconds, 0)
            let closes = handlers.map { handler in
                let handler = NIOLoopBound(handler, eventLoop: eventLoop)
                let delay = TimeAmount.nanoseconds(nanoseconds == 0 ? 0 : Int64.random(in: 0...nanoseconds))
                return eventLoop.scheduleTask(in: delay) {
                    handler.value.drain(retryMilliseconds: Int.random(in: 500...1500))
                }.futureResult
            }
            return EventLoopFuture.andAllComplete(closes, on: eventLoop)
        }
    }

    /// Stops the sweep and ends every stream on this loop.
    func closeAll(reason: CloseReason) -> EventLoopFuture<Void> {
        let streams = self.streams
        return eventLoop.submit {
            streams.value.sweep?.cancel()
            streams.value.sweep = nil
            for handler in Array(streams.value.open.values) {
                handler.finish(reason: reason)
            }
        }
    }

    /// - Important: call on `eventLoop`.
    var openCount: Int { streams.value.open.count }

    /// Frames queued for this loop and not yet written (from any thread).
    var pendingDeliveries: Int { pending.state.withLock { $0.deliveries.count } }

    /// Completes once the loop has run what was queued for it before this call, the drain
    /// of the pending frames included.
    func settled() -> EventLoopFuture<Void> {
        eventLoop.submit {}
    }
}

extension Array {
    /// Moves the elements out, leaving the array empty (keeps no capacity: the next drain
    /// may be much smaller).
    fileprivate mutating func take() -> [Element] {
        var taken: [Element] = []
        swap(&taken, &self)
        return taken
    }
}
