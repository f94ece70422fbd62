import NIOCore
import NIOHTTP1
import NIOPosix

/// Publishes with one connection per request, for Pushpin: its HTTP publish API answers every
/// request with `Connection: close`, so keep-alive and pipelining (what `Publisher` does) are not
/// available, and connecting is part of its cost per publish call.
///
/// `workers` tasks run side by side, each connect → request → response → close in turn. In the
/// paced modes worker `w` sends the events numbered `w, w + workers, …` at their due times, so
/// together they keep the rate while `workers` calls can be in flight; each event is stamped when it
/// is sent, as `Publisher` does.
struct OneShotPublisher: Sendable {
    let factory: RequestFactory
    let address: SocketAddress
    let loops: [any EventLoop]

    func run(plan: PublishPlan, workers: Int) async -> PublishResult {
        let start = MonotonicClock.nanoseconds()
        var total = PublishResult()
        await withTaskGroup(of: PublishResult.self) { group in
            for worker in 0..<workers {
                var own = plan
                own.seed = plan.seed &+ UInt64(worker) &* 0x9E37_79B9
                let ownPlan = own
                group.addTask {
                    await work(worker: worker, of: workers, plan: ownPlan, start: start)
                }
            }
            for await part in group {
                total.merge(part)
            }
        }
        total.startNanos = start
        // Only a handful of distinct errors are worth printing.
        total.errors = Array(Set(total.errors)).sorted().prefix(4).map { $0 }
        return total
    }

    private func work(worker: Int, of workers: Int, plan: PublishPlan, start: UInt64) async -> PublishResult {
        var result = PublishResult()
        var rng = SplitMix64(seed: plan.seed)
        let deadline = start + plan.durationNanos
        let loop = loops[worker % loops.count]
        var sequence = worker
        while true {
            var rate: Double?
            var topic = false
            switch plan.mode {
            case .targetedRate(let perSecond): rate = perSecond
            case .topicRate(let perSecond): rate = perSecond; topic = true
            case .targetedMax, .bulk: break
            }
            if let rate {
                let due = start + UInt64(Double(sequence) / rate * 1e9)
                if due >= deadline { break }
                let now = MonotonicClock.nanoseconds()
                if due > now {
                    try? await Task.sleep(nanoseconds: due - now)
                }
            }
            // As `Publisher`: what is still due when the duration is over is not sent.
            if MonotonicClock.nanoseconds() >= deadline {
                break
            }
            sequence += workers

            let now = MonotonicClock.nanoseconds()
            var body = ByteBufferAllocator().buffer(capacity: factory.bulkLineCapacity * 4)
            let head: HTTPRequestHead
            let events: Int
            if case .bulk(let batch) = plan.mode {
                body.reserveCapacity(factory.bulkLineCapacity * batch + 16)
                factory.writeBulkBody(batch: batch, timestamp: now, rng: &rng, into: &body)
                head = factory.bulkHead(contentLength: body.readableBytes)
                events = batch
            } else {
                let client = topic ? nil : rng.next(below: factory.clientCount)
                factory.writeSingleBody(client: client, timestamp: now, into: &body)
                head = client.map { factory.targetedHeads[$0] } ?? factory.topicHead
                events = 1
            }
            result.requests += 1
            result.eventsSent += events
            do {
                let status = try await send(head: head, body: body, on: loop)
                result.responses += 1
                result.statusCounts[status, default: 0] += 1
                if (200..<300).contains(status) {
                    result.accepted += events
                } else {
                    result.rejected += events
                }
            } catch {
                result.rejected += events
                result.errors.append("\(error)")
            }
            result.sendEndNanos = MonotonicClock.nanoseconds()
            result.lastResponseNanos = result.sendEndNanos
        }
        return result
    }

    private func send(head: HTTPRequestHead, body: ByteBuffer, on loop: any EventLoop) async throws -> Int {
        let status = loop.makePromise(of: Int.self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: loop)
                .channelInitializer { channel in
                    do {
                        let sync = channel.pipeline.syncOperations
                        try sync.addHTTPClientHandlers()
                        try sync.addHandler(StatusHandler(status: status))
                        return channel.eventLoop.makeSucceededVoidFuture()
                    } catch {
                        return channel.eventLoop.makeFailedFuture(error)
                    }
                }
                .connect(to: address)
                .get()
        } catch {
            status.fail(error)
            throw error
        }
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        defer { channel.close(promise: nil) }
        return try await status.futureResult.get()
    }

    /// Completes with the response's status once the response has ended.
    private final class StatusHandler: ChannelInboundHandler {
        typealias InboundIn = HTTPClientResponsePart

        private let status: EventLoopPromise<Int>
        private var code = 0
        private var done = false

        init(status: EventLoopPromise<Int>) {
            self.status = status
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): code = Int(head.status.code)
            case .body: break
            case .end: complete(.success(code))
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            complete(.failure(BenchError.publisherClosed))
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            complete(.failure(error))
            context.close(promise: nil)
        }

        private func complete(_ result: Result<Int, Error>) {
            guard !done else { return }
            done = true
            status.completeWith(result)
        }
    }
}
