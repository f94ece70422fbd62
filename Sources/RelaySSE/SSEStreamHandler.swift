import DequeModule
import Logging
import NIOCore
import NIOHTTP1
import RelayCore

/// One HTTP connection on the subscriber port: answers the request, then holds the stream.
///
/// All state is confined to the channel's event loop. Frames for the stream arrive either
/// from the hub's per-loop queue (``enqueue(_:)``), from the replay at open, or from the
/// loop's sweep (keep-alives, lifetime).
///
/// Memory per stream is bounded: NIO holds at most the write-buffer high watermark, and
/// frames that arrive while the socket is not writable wait in `backlog` up to
/// `bufferLimit` bytes; past that the browser is a slow consumer and its stream is closed
/// (it resumes from its cursor when it reconnects). Replayed frames do not count against
/// the limit: they are shared with the replay window, not extra memory.
final class SSEStreamHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// NIO's own buffer for a stream: small, so that what the relay holds for a stuck
    /// client sits in `backlog`, where it is counted.
    static let writeBufferWaterMark = ChannelOptions.Types.WriteBufferWaterMark(low: 32 << 10, high: 64 << 10)
    /// Flush early inside a large batch so writes do not pile up unflushed.
    private static let flushThreshold = 64 << 10

    private enum State {
        case awaitingHead
        case awaitingEnd(HTTPRequestHead, Result<SSERequest, APIError>?)
        case streaming
        case closed
    }

    private let configuration: SSEServer.Configuration
    private let hub: Hub<SSEStream>
    private let loop: StreamLoop
    private var logger: Logger

    private var state = State.awaitingHead
    private var context: ChannelHandlerContext!
    private var stream: SSEStream?

    private var backlog: Deque<ByteBuffer> = []
    /// How many frames at the front of `backlog` are replayed (not counted as buffered).
    private var replayedInBacklog = 0
    private var backlogBytes = 0
    private var unflushedBytes = 0
    private var needsFlush = false
    private var draining = false
    private var lastWrite = NIODeadline.now()
    private var closeAt = NIODeadline.distantFuture
    private var openedAt = NIODeadline.now()
    private var eventsSent = 0

    init(configuration: SSEServer.Configuration, hub: Hub<SSEStream>, loop: StreamLoop, logger: Logger) {
        self.configuration = configuration
        self.hub = hub
        self.loop = loop
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    // MARK: Request

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (unwrapInboundIn(data), state) {
        case (.head(let head), .awaitingHead):
            switch head.method {
            case .GET:
                state = .awaitingEnd(head, Result { () throws(APIError) in try SSERequest.parse(head) })
            case .OPTIONS:
                state = .awaitingEnd(head, nil)
            default:
                state = .awaitingEnd(head, .failure(.methodNotAllowed(head.method.rawValue, allowed: "GET, OPTIONS")))
            }
        case (.body, .awaitingEnd):
            break  // a GET has no use for a body; drop it
        case (.end, .awaitingEnd(let head, let route)):
            switch route {
            case nil:
                answerPreflight(head)
            case .failure(let error)?:
                answer(error, to: head)
            case .success(let request)?:
                open(request, head: head)
            }
        case (_, .streaming), (_, .closed):
            break  // a stream is one-way; anything the client sends now is ignored
        case (.body, .awaitingHead), (.end, .awaitingHead), (.head, .awaitingEnd):
            break
        }
    }

    private var corsHeaders: [(String, String)] {
        guard let origin = configuration.allowOrigin else { return [] }
        var headers = [("Access-Control-Allow-Origin", origin)]
        if origin != "*" { headers.append(("Vary", "Origin")) }
        return headers
    }

    private func answerPreflight(_ head: HTTPRequestHead) {
        var headers = HTTPHeaders(corsHeaders)
        headers.add(name: "Allow", value: "GET, OPTIONS")
        if configuration.allowOrigin != nil {
            headers.add(name: "Access-Control-Allow-Methods", value: "GET, OPTIONS")
            headers.add(name: "Access-Control-Allow-Headers", value: "Last-Event-ID, Cache-Control, Authorization")
            headers.add(name: "Access-Control-Max-Age", value: "600")
        }
        headers.add(name: "Content-Length", value: "0")
        let keepAlive = head.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .noContent, headers: headers))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        if keepAlive {
            state = .awaitingHead
        } else {
            state = .closed
            context.close(promise: nil)
        }
    }

    private func answer(_ error: APIError, to head: HTTPRequestHead) {
        state = .closed
        var headers = HTTPHeaders(corsHeaders)
        let body = ByteBuffer(string: error.json)
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        headers.add(name: "Connection", value: "close")
        if error.status == 405 { headers.add(name: "Allow", value: "GET, OPTIONS") }
        let status = HTTPResponseStatus(statusCode: error.status)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        // HEAD responses carry no body, whatever the status.
        if head.method != .HEAD { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
        logger.debug("subscribe refused", metadata: ["http.status": "\(error.status)", "error.code": "\(error.code)"])
    }

    // MARK: Stream

    private func open(_ request: SSERequest, head: HTTPRequestHead) {
        let peer = context.channel.remoteAddress.map(Self.describe) ?? "unknown"
        let info = ConnectionInfo(
            node: configuration.nodeID, client: request.client, topics: request.topics,
            sinceMilliseconds: WallClock.milliseconds(), peer: peer
        )
        let stream = SSEStream(
            request: request, info: info, queue: loop.queue,
            handler: NIOLoopBound(self, eventLoop: context.eventLoop)
        )
        self.stream = stream
        logger[metadataKey: "client.id"] = "\(request.client)"
        logger[metadataKey: "peer"] = "\(peer)"

        var headers = HTTPHeaders([
            ("Content-Type", "text/event-stream; charset=utf-8"),
            ("Cache-Control", "no-cache, no-transform"),
            ("X-Accel-Buffering", "no"),
        ])
        headers.add(contentsOf: corsHeaders)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .ok, headers: headers))), promise: nil)

        state = .streaming
        let lastEventID = request.lastEventID.flatMap { $0.isEmpty ? nil : $0 }
        let opening = hub.open(stream, lastEventID: lastEventID, retry: configuration.retryMilliseconds)
        backlog.append(contentsOf: opening.frames)
        replayedInBacklog = opening.frames.count
        loop.register(self)
        openedAt = .now()
        closeAt = openedAt + Self.jittered(configuration.maxLifetime)
        needsFlush = true
        drain()

        var metadata: Logger.Metadata = [:]
        if !request.topics.isEmpty { metadata["topics"] = "\(request.topics.map(\.rawValue).joined(separator: ","))" }
        if let lastEventID { metadata["last_event.id"] = "\(lastEventID.prefix(64))" }
        if opening.replayed > 0 { metadata["replayed"] = "\(opening.replayed)" }
        if let reason = opening.resetReason {
            metadata["reset"] = "\(reason)"
            logger.notice("stream opened with reset: cursor not replayable", metadata: metadata)
        } else {
            logger.info("stream opened", metadata: metadata)
        }
    }

    /// Queues a live frame. Returns true when the caller should call ``flushPending()``
    /// after its batch (the first unflushed write since the last flush).
    func enqueue(_ frame: ByteBuffer) -> Bool {
        guard case .streaming = state else { return false }
        if !backlog.isEmpty || !context.channel.isWritable {
            backlog.append(frame)
            backlogBytes += frame.readableBytes
            if backlogBytes > configuration.bufferLimit {
                finish(reason: .slowConsumer)
            }
            return false
        }
        write(frame)
        if unflushedBytes >= Self.flushThreshold {
            flushPending()
            return false
        }
        defer { needsFlush = true }
        return !needsFlush
    }

    func flushPending() {
        guard needsFlush, case .streaming = state else { return }
        needsFlush = false
        unflushedBytes = 0
        lastWrite = .now()
        context.flush()
    }

    private func write(_ frame: ByteBuffer) {
        unflushedBytes += frame.readableBytes
        eventsSent += 1
        context.write(wrapOutboundOut(.body(.byteBuffer(frame))), promise: nil)
    }

    /// Moves frames from the backlog to the socket while it takes them.
    private func drain() {
        guard !draining else { return }  // flush can re-enter through writability changes
        draining = true
        defer { draining = false }
        while case .streaming = state, context.channel.isWritable, let frame = backlog.popFirst() {
            if replayedInBacklog > 0 {
                replayedInBacklog -= 1
            } else {
                backlogBytes -= frame.readableBytes
            }
            write(frame)
            needsFlush = true
            if unflushedBytes >= Self.flushThreshold { flushPending() }
        }
        flushPending()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, !backlog.isEmpty {
            drain()
        }
        context.fireChannelWritabilityChanged()
    }

    /// Called by the loop's sweep.
    func tick(now: NIODeadline) {
        guard case .streaming = state else { return }
        if now >= closeAt {
            finish(reason: .lifetime)
        } else if now - lastWrite >= .nanoseconds(Int64(configuration.keepAlive.nanoseconds)), backlog.isEmpty,
            context.channel.isWritable
        {
            context.write(wrapOutboundOut(.body(.byteBuffer(SSEEncoder.keepAlive))), promise: nil)
            needsFlush = true
            flushPending()
        }
    }

    /// Ends the stream on purpose. Complete frames only were ever written, so the browser
    /// has a valid cursor and resumes from it.
    func finish(reason: CloseReason) {
        guard case .streaming = state else { return }
        teardown(reason: reason)
        if reason != .slowConsumer {
            // The terminating chunk tells proxies the response ended cleanly; the kernel
            // still delivers what it holds after close.
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
        context.close(promise: nil)
    }

    private func teardown(reason: CloseReason) {
        state = .closed
        if let stream {
            hub.close(stream)
        }
        stream = nil  // breaks the stream ↔ handler cycle
        loop.deregister(self)
        backlog.removeAll()
        let level: Logger.Level = reason == .slowConsumer ? .warning : .info
        logger.log(
            level: level, "stream closed",
            metadata: [
                "reason": "\(reason.rawValue)", "events.sent": "\(eventsSent)",
                "duration.seconds": "\((NIODeadline.now() - openedAt).nanoseconds / 1_000_000_000)",
            ]
        )
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .streaming = state {
            teardown(reason: .clientGone)
        }
        state = .closed
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("connection error", metadata: ["error": "\(error)"])
        if case .streaming = state {
            teardown(reason: .error)
        }
        state = .closed
        context.close(promise: nil)
    }

    // MARK: Helpers

    private static func jittered(_ lifetime: Duration) -> TimeAmount {
        let nanos = Double(lifetime.nanoseconds)
        return .nanoseconds(Int64(nanos * Double.random(in: 0.9...1.0)))
    }

    static func describe(_ address: SocketAddress) -> String {
        switch address {
        case .v4, .v6:
            let host = address.ipAddress ?? "?"
            let port = address.port ?? 0
            return address.protocol == .inet6 ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unixDomainSocket:
            return "unix"
        }
    }
}

@available(*, unavailable)
extension SSEStreamHandler: Sendable {}

extension Duration {
    /// Whole nanoseconds, saturating.
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : scaled + attoseconds / 1_000_000_000
    }
}
