import NIOCore
import NIOHTTP1
import RelayCore

/// One connection on the metrics port. Requests are tiny and rare (a scrape every few
/// seconds, a status page or two), so each answer is built whole, except the status stream.
final class MetricsHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// How long every event loop gets to answer a liveness probe.
    private static let livenessTimeout = TimeAmount.seconds(2)
    /// How often the status stream sends a snapshot.
    static let statusInterval = TimeAmount.seconds(1)

    private let routes: MetricsRoutes
    private var request: HTTPRequestHead?
    private var statusTimer: RepeatedTask?

    init(routes: MetricsRoutes) {
        self.routes = routes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
        case .body:
            break
        case .end:
            guard let head = request else { return }
            request = nil
            route(head, context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        statusTimer?.cancel()
        statusTimer = nil
        context.fireChannelInactive()
    }

    private func route(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? head.uri
        guard head.method == .GET || head.method == .HEAD else {
            let error = APIError(status: 405, code: "method_not_allowed", message: "\(path) answers GET only")
            respond(context, head, status: .methodNotAllowed, body: error.json, extraHeaders: [("Allow", "GET, HEAD")])
            return
        }
        switch path {
        case "/metrics":
            respond(context, head, status: .ok, contentType: "text/plain; version=0.0.4; charset=utf-8", bytes: routes.scrape())
        case "/healthz":
            liveness(context, head)
        case "/readyz":
            let reasons = routes.notReadyReasons()
            let body = #"{"ready":"# + (reasons.isEmpty ? "true" : "false")
                + #","reasons":["# + reasons.map(JSONText.quoted).joined(separator: ",") + "]}"
            respond(context, head, status: reasons.isEmpty ? .ok : .serviceUnavailable, body: body)
        case "/", "/status":
            respond(context, head, status: .ok, contentType: "text/html; charset=utf-8", body: StatusPage.html)
        case "/status/events":
            streamStatus(context, head)
        default:
            let error = APIError(status: 404, code: "not_found", message: "no route \(path); try /metrics, /healthz, /readyz or /status")
            respond(context, head, status: .notFound, body: error.json)
        }
    }

    /// Every event loop must run a task within the timeout: a loop stuck in a busy handler
    /// or a blocking call fails the probe, so systemd or the orchestrator can restart us.
    private func liveness(_ context: ChannelHandlerContext, _ head: HTTPRequestHead) {
        let eventLoop = context.eventLoop
        let pings = routes.group.makeIterator().map { $0.submit {} }
        let promise = eventLoop.makePromise(of: Bool.self)
        EventLoopFuture.andAllComplete(pings, on: eventLoop).whenComplete { _ in promise.succeed(true) }
        eventLoop.scheduleTask(in: Self.livenessTimeout) { promise.succeed(false) }
        promise.futureResult.assumeIsolated().whenSuccess { alive in
            if alive {
                self.respond(context, head, status: .ok, body: #"{"status":"ok"}"#)
            } else {
                let error = APIError(status: 503, code: "event_loop_stuck", message: "an event loop did not answer within 2 s")
                self.respond(context, head, status: .serviceUnavailable, body: error.json)
            }
        }
    }

    /// The status page's live feed: the sampler's latest snapshot as one SSE event a second.
    private func streamStatus(_ context: ChannelHandlerContext, _ head: HTTPRequestHead) {
        let headers = HTTPHeaders([
            ("Content-Type", "text/event-stream; charset=utf-8"),
            ("Cache-Control", "no-cache, no-transform"),
            ("Connection", "close"),
        ])
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .ok, headers: headers))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(SSEEncoder.retryHint(milliseconds: 2000)))), promise: nil)
        guard head.method == .GET else {
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            return
        }
        let sampler = routes.sampler
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        let lastSent = NIOLoopBoundBox(UInt64(0), eventLoop: context.eventLoop)
        statusTimer = context.eventLoop.scheduleRepeatedTask(initialDelay: .zero, delay: Self.statusInterval) { _ in
            guard let (sequence, json) = sampler.latest, sequence != lastSent.value else { return }
            lastSent.value = sequence
            let frame = SSEEncoder.frame(Event(name: "status", data: json), id: EventID(epoch: 0, sequence: sequence))
            let context = loopBound.value
            context.writeAndFlush(NIOAny(HTTPServerResponsePart.body(.byteBuffer(frame))), promise: nil)
        }
    }

    private func respond(
        _ context: ChannelHandlerContext, _ head: HTTPRequestHead, status: HTTPResponseStatus,
        contentType: String = "application/json", body: String, extraHeaders: [(String, String)] = []
    ) {
        respond(context, head, status: status, contentType: contentType, bytes: Array(body.utf8), extraHeaders: extraHeaders)
    }

    private func respond(
        _ context: ChannelHandlerContext, _ head: HTTPRequestHead, status: HTTPResponseStatus,
        contentType: String, bytes: [UInt8], extraHeaders: [(String, String)] = []
    ) {
        var headers = HTTPHeaders([("Content-Type", contentType), ("Content-Length", String(bytes.count)), ("Cache-Control", "no-store")])
        headers.add(contentsOf: extraHeaders)
        if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: bytes)))), promise: nil)
        }
        let keepAlive = head.isKeepAlive
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            if !keepAlive { context.close(promise: nil) }
        }
    }
}
