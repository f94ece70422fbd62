import NIOCore
import NIOHTTP1

/// Publishes over one keep-alive HTTP/1.1 connection: the relay's Unix socket, or a peer's TCP port.
///
/// All of its work runs on its channel's event loop: requests are generated here, in response to a
/// timer tick or to a response arriving, rather than written from the main task, so there is no
/// cross-thread hop per request. Writes made while handling a batch of responses are flushed once
/// in `channelReadComplete`, so a full pipeline goes out in one writev.
final class Publisher: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    /// Pacing granularity for the rate modes; at 5k/s that is 5 events per tick.
    private static let tick = TimeAmount.milliseconds(1)

    private let factory: RequestFactory
    private var context: ChannelHandlerContext?
    private var plan: PublishPlan?
    private var promise: EventLoopPromise<PublishResult>?
    private var result = PublishResult()
    private var rng = SplitMix64(seed: 1)
    private var deadline: UInt64 = 0
    private var sendingDone = false
    private var timer: Scheduled<Void>?
    private var needsFlush = false

    /// Events per in-flight request, oldest first; responses arrive in request order.
    private var inFlight: [Int] = []
    private var inFlightHead = 0
    private var inFlightCount = 0

    /// State of the response being read.
    private var status = 0
    private var reportLines = 0
    private var reportFailures = 0
    private var reportNotConnected = 0
    private var reportDelivered = 0
    private var lineScanner = ReportLineScanner()

    init(factory: RequestFactory) {
        self.factory = factory
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// Runs `plan` and completes the returned future when sending has stopped and every request
    /// has been answered (or the connection is gone). Must be called on the channel's loop.
    func start(_ plan: PublishPlan) -> EventLoopFuture<PublishResult> {
        guard let context else {
            preconditionFailure("Publisher.start called before the handler was added")
        }
        let promise = context.eventLoop.makePromise(of: PublishResult.self)
        self.plan = plan
        self.promise = promise
        self.rng = SplitMix64(seed: plan.seed)
        self.inFlight = Array(repeating: 0, count: max(1, plan.pipeline))
        let now = MonotonicClock.nanoseconds()
        result.startNanos = now
        deadline = now + plan.durationNanos
        switch plan.mode {
        case .targetedRate, .topicRate:
            tick()
        case .targetedMax, .bulk:
            refill(now: now)
            flushIfNeeded()
        }
        return promise.futureResult
    }

    // MARK: Sending

    private func tick() {
        guard let plan, !sendingDone else { return }
        let now = MonotonicClock.nanoseconds()
        if now >= deadline {
            stopSending(now: now)
            return
        }
        let perSecond: Double
        switch plan.mode {
        case .targetedRate(let rate), .topicRate(let rate): perSecond = rate
        case .targetedMax, .bulk: return
        }
        // Due counts from the start, so a late tick catches up instead of drifting. Events held
        // back by a full pipeline go out later stamped with their send time, so the relay's
        // slowness to answer shows as backlog (reported), not as delivery latency.
        let due = Int(Double(now - result.startNanos) * perSecond / 1e9) + 1 - result.eventsSent
        if due > 0 {
            let room = inFlight.count - inFlightCount
            let count = min(due, room)
            result.maxBacklog = max(result.maxBacklog, due - count)
            if count > 0 {
                var topic = false
                if case .topicRate = plan.mode { topic = true }
                sendSingles(count: count, now: now, topic: topic)
            }
        }
        flushIfNeeded()
        timer = context?.eventLoop.assumeIsolated().scheduleTask(in: Self.tick) { [self] in
            self.tick()
        }
    }

    /// For the "as fast as possible" modes: top the pipeline up.
    private func refill(now: UInt64) {
        guard let plan, !sendingDone else { return }
        if now >= deadline {
            stopSending(now: now)
            return
        }
        let room = inFlight.count - inFlightCount
        guard room > 0 else { return }
        switch plan.mode {
        case .targetedMax:
            sendSingles(count: room, now: now, topic: false)
        case .bulk(let batch):
            for _ in 0..<room {
                sendBulk(batch: batch, now: now)
            }
        case .targetedRate, .topicRate:
            break
        }
    }

    private func sendSingles(count: Int, now: UInt64, topic: Bool) {
        guard let context else { return }
        // One allocation for all bodies of this burst; each request gets a slice of it.
        var bodies = context.channel.allocator.buffer(capacity: factory.bulkLineCapacity * count)
        for _ in 0..<count {
            let client = topic ? nil : rng.next(below: factory.clientCount)
            let start = bodies.writerIndex
            factory.writeSingleBody(client: client, timestamp: now, into: &bodies)
            let body = bodies.readSlice(length: bodies.writerIndex - start)!
            let head = client.map { factory.targetedHeads[$0] } ?? factory.topicHead
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            context.write(wrapOutboundOut(.end(nil)), promise: nil)
            pushInFlight(events: 1)
        }
        result.requests += count
        result.eventsSent += count
        needsFlush = true
    }

    private func sendBulk(batch: Int, now: UInt64) {
        guard let context else { return }
        var body = context.channel.allocator.buffer(capacity: factory.bulkLineCapacity * batch + 16)
        factory.writeBulkBody(batch: batch, timestamp: now, rng: &rng, into: &body)
        context.write(wrapOutboundOut(.head(factory.bulkHead(contentLength: body.readableBytes))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.write(wrapOutboundOut(.end(nil)), promise: nil)
        pushInFlight(events: batch)
        result.requests += 1
        result.eventsSent += batch
        needsFlush = true
    }

    private func stopSending(now: UInt64) {
        sendingDone = true
        result.sendEndNanos = now
        timer?.cancel()
        timer = nil
        flushIfNeeded()
        finishIfIdle()
    }

    private func flushIfNeeded() {
        if needsFlush {
            needsFlush = false
            context?.flush()
        }
    }

    // MARK: Responses

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = Int(head.status.code)
            reportLines = 0
            reportFailures = 0
            reportNotConnected = 0
            reportDelivered = 0
            lineScanner = ReportLineScanner()
        case .body(let buffer):
            buffer.withUnsafeReadableBytes { bytes in
                lineScanner.feed(bytes, countLine)
            }
        case .end:
            lineScanner.finish(countLine)
            completeResponse()
        }
    }

    private func countLine(_ kind: ReportLineScanner.Kind, delivered: Int) {
        reportLines += 1
        reportDelivered += delivered
        switch kind {
        case .ok: break
        case .notConnected: reportNotConnected += 1
        case .failed: reportFailures += 1
        }
    }

    private func completeResponse() {
        let events = popInFlight()
        let now = MonotonicClock.nanoseconds()
        result.responses += 1
        result.lastResponseNanos = now
        result.statusCounts[status, default: 0] += 1
        result.reportedDelivered += reportDelivered
        let success = (200..<300).contains(status)
        if factory.target != .relay {
            // Peers answer a publish with 2xx and no per-event report (nchan 201/202, Pushpin 200).
            if success {
                result.accepted += events
            } else {
                result.rejected += events
            }
        } else if case .bulk = plan?.mode, status == 200 {
            // A report line per input line; lines that fail or name an absent client are not
            // expected to arrive, everything else is.
            result.notConnected += reportNotConnected
            result.rejected += reportFailures + max(0, events - reportLines)
            result.accepted += max(0, min(reportLines, events) - reportFailures - reportNotConnected)
        } else if status == 200 {
            result.accepted += events
        } else if status == 404 && reportNotConnected > 0 {
            result.notConnected += events
        } else {
            result.rejected += events
        }
        switch plan?.mode {
        case .targetedMax?, .bulk?:
            refill(now: now)
        default:
            break
        }
        finishIfIdle()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushIfNeeded()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if promise != nil {
            result.errors.append("\(BenchError.publisherClosed) with \(inFlightCount) requests unanswered")
            sendingDone = true
            timer?.cancel()
            finish()
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        result.errors.append("\(error)")
        context.close(promise: nil)
    }

    private func finishIfIdle() {
        if sendingDone && inFlightCount == 0 {
            finish()
        }
    }

    private func finish() {
        if result.sendEndNanos == 0 {
            result.sendEndNanos = MonotonicClock.nanoseconds()
        }
        let promise = self.promise
        self.promise = nil
        promise?.succeed(result)
    }

    // MARK: In-flight ring

    private func pushInFlight(events: Int) {
        inFlight[(inFlightHead + inFlightCount) % inFlight.count] = events
        inFlightCount += 1
    }

    private func popInFlight() -> Int {
        guard inFlightCount > 0 else { return 0 }
        let events = inFlight[inFlightHead]
        inFlightHead = (inFlightHead + 1) % inFlight.count
        inFlightCount -= 1
        return events
    }
}
