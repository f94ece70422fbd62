import NIOCore
import NIOHTTP1

/// One SSE subscription. Sends the GET on connect, then feeds the body to an `SSEScanner` and
/// records each event into its loop's `LoopStats`.
///
/// Ten thousand of these live at once, so per-connection state is kept to the scanner and a few
/// flags; everything shared lives in the template and the loop stats.
final class SSEClientHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let clientIndex: Int
    private let template: SSERequestTemplate
    private let stats: LoopStats
    /// Completed at the first body bytes (the relay's `retry:` line): that is when the relay has
    /// registered the client, so it counts as "established". Nil once completed.
    private var firstBytes: EventLoopPromise<Void>?
    private var statusOK = false
    private var established = false
    private var scanner = SSEScanner()

    init(clientIndex: Int, template: SSERequestTemplate, stats: LoopStats, firstBytes: EventLoopPromise<Void>) {
        self.clientIndex = clientIndex
        self.template = template
        self.stats = stats
        self.firstBytes = firstBytes
    }

    func channelActive(context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(.head(template.head(forClient: clientIndex))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            statusOK = head.status == .ok
            if !statusOK {
                fail(BenchError.httpStatus(Int(head.status.code)))
                context.close(promise: nil)
            }
        case .body(let buffer):
            guard statusOK else { return }
            if !established {
                established = true
                stats.established += 1
                firstBytes?.succeed(())
                firstBytes = nil
            }
            // One clock read per buffer: every event in it arrived at the same moment.
            let now = MonotonicClock.nanoseconds()
            let stats = self.stats
            buffer.withUnsafeReadableBytes { bytes in
                scanner.feed(bytes) { timestamp in
                    stats.record(timestamp: timestamp, now: now)
                }
            }
        case .end:
            // An SSE stream has no end; the relay closing it is a drop, seen in channelInactive.
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if established {
            stats.dropped += 1
        } else {
            fail(BenchError.closedBeforeFirstBytes)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        fail(error)
        context.close(promise: nil)
    }

    private func fail(_ error: Error) {
        firstBytes?.fail(error)
        firstBytes = nil
    }
}
