import DequeModule
import Logging
import NIOCore
import NIOHTTP1
import RelayAuth
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

    static let encoderName = "http-encoder"
    static let decoderName = "http-decoder"

    /// NIO's own buffer for a stream: small, so that what the relay holds for a stuck
    /// client sits in `backlog`, where it is counted.
    static let writeBufferWaterMark = ChannelOptions.Types.WriteBufferWaterMark(low: 32 << 10, high: 64 << 10)
    /// Flush early inside a large batch so writes do not pile up unflushed.
    private static let flushThreshold = 64 << 10

    private enum State {
        case awaitingHead
        case awaitingEnd(HTTPRequestHead, Result<SSERequest, APIError>?)
        /// Waiting for the authenticator's answer; nothing is written meanwhile.
        case admitting
        case streaming
        case closed
    }

    private let environment: StreamEnvironment
    private let loop: StreamLoop
    private var configuration: SSEServer.Configuration { environment.configuration }
    private var hub: Hub<SSEStream> { environment.hub }
    private var replaySource: (any ReplaySource)? { environment.replaySource }
    private var counters: StreamCounters { environment.counters }
    private var metrics: RelayMetrics { environment.hub.metrics }
    private var logger: Logger { environment.logger }

    private var state = State.awaitingHead
    private var context: ChannelHandlerContext!
    private var stream: SSEStream?

    private var backlog: Deque<ByteBuffer> = []
    /// Cluster mode, until the replay arrives: live frames with their sequence numbers, so
    /// the ones the replay already holds can be dropped.
    private var catchUp: [(sequence: UInt64, frame: ByteBuffer)]?
    /// Cluster mode, for a short while after the replay: its sequence numbers. An event can
    /// be in the shared history (so in the replay) and still be on its way here through the
    /// broker, routed while the browser was between nodes; it must not arrive twice.
    private var replayed: Set<UInt64>?
    private var replayedUntil = NIODeadline.distantPast
    private static let replayedMemory = TimeAmount.seconds(5)
    /// How many frames at the front of `backlog` are replayed (not counted as buffered).
    private var replayedInBacklog = 0
    private var backlogBytes = 0
    private var unflushedBytes = 0
    private var needsFlush = false
    private var draining = false
    /// The channel's writability as its events report it: asking the channel costs a trip
    /// through the pipeline per event on the delivery path.
    private var writable = true
    private var lastWrite = NIODeadline.now()
    private var closeAt = NIODeadline.distantFuture
    private var openedAt = NIODeadline.now()
    private var eventsSent = 0
    /// The last frame written that carries an event id (parsed only when an operator asks).
    private var lastIDFrame: ByteBuffer?
    /// The cursor the browser came with, until an event is written.
    private var resumedFrom: EventID?
    /// The request's `Origin`, for CORS headers on the answer.
    private var origin: String?
    /// The client's address after trusted proxies, for limits and logs.
    private var remoteAddress = "unknown"
    /// The client id whose place in the ledger this stream holds; released once, at teardown.
    private var reserved: ClientID?
    /// When the stream's credentials expire (JWT `exp`, delegate `expires_in`).
    private var tokenExpiresAt: NIODeadline?
    /// Answered an oversized head; reading on (and dropping) until the client is done.
    private var lingering = false
    /// When the request the connection owes must be complete: `http.request-timeout` from
    /// the connect or from the previous answer. One deadline for "silent" and "slow"
    /// (slowloris): a subscriber port has no use for idle keep-alive connections, and
    /// telling them apart took two more handlers per connection, 8% of a connect's CPU.
    /// `nil` while the relay answers and once streaming. The loop's sweep checks it.
    private var requestDeadline: NIODeadline?

    init(environment: StreamEnvironment, loop: StreamLoop) {
        self.environment = environment
        self.loop = loop
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        writable = context.channel.isWritable
        if context.channel.isActive { startRequestDeadline() }
    }

    func channelActive(context: ChannelHandlerContext) {
        startRequestDeadline()
        context.fireChannelActive()
    }

    private func startRequestDeadline() {
        requestDeadline = .now() + TimeAmount(configuration.requestTimeout)
        loop.watchRequest(of: self)
    }

    private func stopRequestDeadline() {
        // Every close passes here; a stream stopped its deadline when its request ended.
        guard requestDeadline != nil else { return }
        requestDeadline = nil
        loop.unwatchRequest(of: self)
    }

    /// Called by the loop's sweep: a request not complete by its deadline gets no answer,
    /// only the closed connection.
    func checkRequestDeadline(now: NIODeadline) {
        guard let requestDeadline, now >= requestDeadline else { return }
        stopRequestDeadline()
        state = .closed
        context.close(promise: nil)
    }

    // MARK: Request

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch state {
        case .streaming, .closed, .admitting:
            // A stream is one-way; whatever the client sends now (raw bytes, once the HTTP
            // decoder is gone) is dropped.
            return
        case .awaitingHead, .awaitingEnd:
            break
        }
        switch (unwrapInboundIn(data), state) {
        case (.head(let head), .awaitingHead):
            origin = head.headers.first(name: "Origin")
            // The path decides first: an unknown path is 404 whatever the method.
            let route = Result { () throws(APIError) in try SSERequest.parse(head) }
            if case .failure(let error) = route, error.status == 404 {
                state = .awaitingEnd(head, route)
                return
            }
            switch head.method {
            case .GET:
                state = .awaitingEnd(head, route)
            case .OPTIONS:
                state = .awaitingEnd(head, nil)
            default:
                state = .awaitingEnd(head, .failure(.methodNotAllowed(head.method.rawValue, allowed: "GET, OPTIONS")))
            }
        case (.body, .awaitingEnd):
            break  // a GET has no use for a body; drop it
        case (.end, .awaitingEnd(let head, let route)):
            stopRequestDeadline()
            switch route {
            case nil:
                answerPreflight(head)
            case .failure(let error)?:
                answer(error, to: head)
            case .success(let request)?:
                admit(request, head: head)
            }
        case (_, .streaming), (_, .closed), (_, .admitting):
            break
        case (.body, .awaitingHead), (.end, .awaitingHead), (.head, .awaitingEnd):
            break
        }
    }

    private var corsHeaders: [(String, String)] {
        configuration.cors.headers(origin: origin)
    }

    private func answerPreflight(_ head: HTTPRequestHead) {
        var headers = HTTPHeaders(configuration.cors.preflightHeaders(origin: origin))
        headers.add(name: "Allow", value: "GET, OPTIONS")
        headers.add(name: "Content-Length", value: "0")
        let keepAlive = head.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .noContent, headers: headers))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        if keepAlive {
            state = .awaitingHead
            startRequestDeadline()
        } else {
            state = .closed
            context.close(promise: nil)
        }
    }

    private func answer(_ error: APIError, to head: HTTPRequestHead, extraHeaders: [Refusal.Header] = [], linger: Bool = false) {
        state = .closed
        var headers = HTTPHeaders(corsHeaders)
        for header in extraHeaders { headers.add(name: header.name, value: header.value) }
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
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            guard linger else { return channel.close(promise: nil) }
            // The client is still sending what we did not read: closing now would reset the
            // connection and lose the answer. Stop writing, drop what comes, close later.
            channel.close(mode: .output, promise: nil)
            channel.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
        }
        logger.debug("subscribe refused", metadata: ["http.status": "\(error.status)", "error.code": "\(error.code)"])
    }

    // MARK: Admission

    /// Checks the cheap limits on the loop, asks the authenticator (off the loop unless
    /// anonymous), then takes a place in the ledger and opens the stream.
    private func admit(_ request: SSERequest, head: HTTPRequestHead) {
        let configuration = self.configuration
        let peerHost = context.channel.remoteAddress.flatMap(\.ipAddress) ?? "unix"
        remoteAddress = configuration.trustedProxies.clientAddress(peer: peerHost, forwardedFor: head.headers["X-Forwarded-For"])
        if environment.drainSwitch.isDraining {
            return refuse(.draining(retryAfterSeconds: max(1, configuration.retryMilliseconds / 1000)), request: request, head: head)
        }
        if configuration.maxHeaderSize > 0, Self.headSize(head) > configuration.maxHeaderSize {
            return refuse(.headersTooLarge(limit: configuration.maxHeaderSize), request: request, head: head)
        }
        if configuration.maxTopics > 0, request.topics.count > configuration.maxTopics {
            return refuse(.tooManyTopics(request.topics.count, limit: configuration.maxTopics), request: request, head: head)
        }
        // Loopback peers are a local proxy (not in proxy.trusted) or local tools: limiting them
        // would make every browser behind that proxy share one bucket.
        let now = Double(NIODeadline.now().uptimeNanoseconds) / 1e9
        if !TrustedProxies.isLoopback(remoteAddress),
            let wait = environment.connectRate.acquire(remoteAddress, now: now, configuration: configuration.connectRate)
        {
            return refuse(.rateLimited(retryAfterSeconds: wait), request: request, head: head)
        }
        if environment.isAnonymous {
            return admitted(.success(Grant(client: request.client, topics: request.topics)), request: request, head: head)
        }
        let credentials = SubscribeCredentials(
            client: request.client, topics: request.topics,
            token: TokenExtraction.token(
                authorization: head.headers.first(name: "Authorization"), queryToken: request.token,
                cookieHeaders: head.headers["Cookie"], cookieName: configuration.tokenCookie
            ),
            headers: head.headers.map { (name: $0.name, value: $0.value) },
            remoteAddress: remoteAddress
        )
        state = .admitting
        let authenticator = environment.authenticator
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        Task {
            let result = await authenticator.authenticate(credentials)
            handler.eventLoop.execute {
                handler.value.admitted(result, request: request, head: head)
            }
        }
    }

    private func admitted(_ result: Result<Grant, Refusal>, request: SSERequest, head: HTTPRequestHead) {
        switch state {
        case .admitting, .awaitingEnd: break
        default: return  // the browser went away while we asked
        }
        switch result {
        case .failure(let refusal):
            refuse(refusal, request: request, head: head)
        case .success(let grant):
            if let refusal = environment.ledger.reserve(grant.client, limits: configuration.connectionLimits) {
                return refuse(refusal, request: request, head: head)
            }
            reserved = grant.client
            if let expiresAt = grant.expiresAt {
                tokenExpiresAt = .now() + .nanoseconds(Int64(max(0, expiresAt.timeIntervalSinceNow) * 1e9))
            }
            open(request, head: head)
        }
    }

    private func refuse(_ refusal: Refusal, request: SSERequest, head: HTTPRequestHead) {
        let (log, notLogged) = counters.recordRefusal(refusal.reason, peer: remoteAddress, now: NIODeadline.now().uptimeNanoseconds)
        answer(refusal.error, to: head, extraHeaders: refusal.headers)
        // Held back ones still show at debug level, for whoever follows one client closely.
        let level: Logger.Level = !log ? .debug : refusal.reason == .authUnavailable || refusal.reason == .nodeFull ? .warning : .info
        guard logger.logLevel <= level else { return }
        var metadata: Logger.Metadata = [
            "client.id": "\(request.client)", "peer": "\(remoteAddress)", "reason": "\(refusal.reason.rawValue)",
            "http.status": "\(refusal.error.status)", "detail": "\(refusal.error.message)",
        ]
        if notLogged > 0 { metadata["refusals.not_logged"] = "\(notLogged)" }
        logger.log(level: level, "stream refused", metadata: metadata)
    }

    /// Bytes of the request line and headers, as the client sent them (near enough).
    static func headSize(_ head: HTTPRequestHead) -> Int {
        head.headers.reduce(head.uri.utf8.count + 16) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }
    }

    // MARK: Stream

    private func open(_ request: SSERequest, head: HTTPRequestHead) {
        let peer = remoteAddress == context.channel.remoteAddress?.ipAddress
            ? context.channel.remoteAddress.map(Self.describe) ?? "unknown" : remoteAddress
        let info = ConnectionInfo(
            node: configuration.nodeID, client: request.client, topics: request.topics,
            sinceMilliseconds: WallClock.milliseconds(), peer: peer
        )
        let stream = SSEStream(
            request: request, info: info, queue: loop.queue,
            handler: NIOLoopBound(self, eventLoop: context.eventLoop)
        )
        self.stream = stream

        var headers = HTTPHeaders([
            ("Content-Type", "text/event-stream; charset=utf-8"),
            ("Cache-Control", "no-cache, no-transform"),
            ("X-Accel-Buffering", "no"),
            // The body runs until the connection closes: no chunk framing per event.
            ("Connection", "close"),
        ])
        headers.add(contentsOf: corsHeaders)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .ok, headers: headers))), promise: nil)
        // Writes below this handler go straight to the socket from now on.
        let operations = context.pipeline.syncOperations
        for name in [Self.decoderName, Self.encoderName] {
            operations.removeHandler(name: name, promise: nil)
        }

        state = .streaming
        metrics.recordConnect()
        let lastEventID = request.lastEventID.flatMap { $0.isEmpty ? nil : $0 }
        resumedFrom = lastEventID.flatMap { EventID($0) }
        loop.register(self)
        openedAt = .now()
        closeAt = openedAt + loop.lifetime(upTo: configuration.maxLifetime)

        guard let replaySource else {
            needsFlush = true  // the head, whatever follows it
            let opening = hub.open(stream, lastEventID: lastEventID, retry: configuration.retryMilliseconds)
            backlog.append(contentsOf: opening.frames)
            replayedInBacklog = opening.frames.count
            drain()
            logOpened(request, lastEventID: lastEventID, replayed: opening.replayed, reset: opening.resetReason)
            return
        }
        // Cluster mode: attach first so no live event is missed, and hold live frames while
        // the opening (the route in Redis, then the replay) is a round trip or two away. The
        // response head stays unflushed until then, so the browser's `open` means that an
        // event published from now on, on any node, comes here.
        catchUp = []
        hub.attach(stream)
        let handler = stream.handler
        Task {
            let opening = await replaySource.opening(client: request.client, topics: request.topics, lastEventID: lastEventID)
            handler.eventLoop.execute {
                handler.value.finishCatchUp(opening, request: request, lastEventID: lastEventID)
            }
        }
    }

    /// Writes the replay (or reset, or the present cursor), then the live frames that came
    /// meanwhile and are not in the replay.
    private func finishCatchUp(_ opening: ReplayOpening, request: SSERequest, lastEventID: String?) {
        guard case .streaming = state, let live = catchUp else { return }
        catchUp = nil
        var frames = [SSEEncoder.preamble(retry: configuration.retryMilliseconds, cursor: nil)]
        if let reason = opening.reset {
            frames.append(SSEEncoder.reset(at: opening.head, reason: reason, lastEventID: String((lastEventID ?? "").prefix(128))))
        } else if lastEventID == nil, live.isEmpty {
            // Live frames carry their own ids; a cursor line after them could move the
            // browser's cursor backwards.
            frames.append(SSEEncoder.cursor(opening.head))
        }
        frames.append(contentsOf: opening.frames.map(\.frame))
        let replayed = Set(opening.frames.map(\.sequence))
        for (sequence, frame) in live where !replayed.contains(sequence) {
            frames.append(frame)
        }
        if !replayed.isEmpty {
            self.replayed = replayed
            replayedUntil = .now() + Self.replayedMemory
        }
        backlog.append(contentsOf: frames)
        replayedInBacklog += frames.count
        backlogBytes = 0
        needsFlush = true
        drain()
        logOpened(request, lastEventID: lastEventID, replayed: opening.frames.count, reset: opening.reset)
    }

    private var streamMetadata: Logger.Metadata {
        guard let info = stream?.info else { return [:] }
        return ["client.id": "\(info.client)", "peer": "\(info.peer)"]
    }

    private func logOpened(_ request: SSERequest, lastEventID: String?, replayed: Int, reset: String?) {
        if replayed > 0 { metrics.replayed.increment(by: Int64(replayed)) }
        if let reset { metrics.recordReset(reason: reset) }
        // Built only when it will be written: a connect costs about 130 µs of CPU, and the
        // metadata a few of them.
        guard logger.logLevel <= (reset == nil ? .info : .notice) else { return }
        var metadata = streamMetadata
        if !request.topics.isEmpty { metadata["topics"] = "\(request.topics.map(\.rawValue).joined(separator: ","))" }
        if let lastEventID { metadata["last_event.id"] = "\(lastEventID.prefix(64))" }
        if replayed > 0 { metadata["replayed"] = "\(replayed)" }
        if let reset {
            metadata["reset"] = "\(reset)"
            logger.notice("stream opened with reset: cursor not replayable", metadata: metadata)
        } else {
            logger.info("stream opened", metadata: metadata)
        }
    }

    /// Queues a live frame. Returns true when the caller should call ``flushPending()``
    /// after its batch (the first unflushed write since the last flush).
    func enqueue(_ frame: ByteBuffer, sequence: UInt64) -> Bool {
        guard case .streaming = state else { return false }
        if let replayed, replayed.contains(sequence) { return false }
        if catchUp != nil {
            catchUp!.append((sequence, frame))
            backlogBytes += frame.readableBytes
            if backlogBytes > configuration.bufferLimit {
                finish(reason: .slowConsumer)
            }
            return false
        }
        if !backlog.isEmpty || !writable {
            backlog.append(frame)
            backlogBytes += frame.readableBytes
            if backlogBytes > configuration.bufferLimit {
                finish(reason: .slowConsumer)
            }
            return false
        }
        let first = write(frame)
        if unflushedBytes >= Self.flushThreshold {
            flushPending()
            return false
        }
        return first
    }

    func flushPending() {
        guard needsFlush, case .streaming = state else { return }
        needsFlush = false
        unflushedBytes = 0
        lastWrite = .now()
        context.flush()
    }

    /// Returns true when this is the first write since the last flush.
    @discardableResult
    private func write(_ frame: ByteBuffer) -> Bool {
        unflushedBytes += frame.readableBytes
        eventsSent += 1
        if frame.getInteger(at: frame.readerIndex, as: UInt8.self) == UInt8(ascii: "i") { lastIDFrame = frame }
        context.write(NIOAny(frame), promise: nil)
        defer { needsFlush = true }
        return !needsFlush
    }

    /// Moves frames from the backlog to the socket while it takes them.
    private func drain() {
        guard !draining else { return }  // flush can re-enter through writability changes
        draining = true
        defer { draining = false }
        while case .streaming = state, writable, let frame = backlog.popFirst() {
            if replayedInBacklog > 0 {
                replayedInBacklog -= 1
            } else {
                backlogBytes -= frame.readableBytes
            }
            write(frame)
            if unflushedBytes >= Self.flushThreshold { flushPending() }
        }
        flushPending()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        writable = context.channel.isWritable
        if writable, !backlog.isEmpty {
            drain()
        }
        context.fireChannelWritabilityChanged()
    }

    /// Bytes held for this stream: the relay's backlog plus what NIO has not yet written to
    /// the socket. `nil` when the stream is not open.
    var bufferedBytes: Int? {
        guard case .streaming = state else { return nil }
        let unwritten = (try? context.channel.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0
        return backlogBytes + unwritten
    }

    /// Called by the loop's sweep.
    func tick(now: NIODeadline, keepAlive: TimeAmount) {
        guard case .streaming = state else { return }
        if replayed != nil, now > replayedUntil { replayed = nil }
        if let tokenExpiresAt, now >= tokenExpiresAt {
            finish(reason: .tokenExpired)
        } else if now >= closeAt {
            finish(reason: .lifetime)
        } else if now - lastWrite >= keepAlive, backlog.isEmpty, writable {
            context.write(NIOAny(SSEEncoder.keepAlive), promise: nil)
            needsFlush = true
            flushPending()
        }
    }

    /// Shutdown: a short `retry:` so the browser comes back soon (to another node, through
    /// the load balancer), then a clean close.
    func drain(retryMilliseconds: Int) {
        guard case .streaming = state else { return }
        if backlog.isEmpty, catchUp == nil, writable {
            context.write(NIOAny(SSEEncoder.retryHint(milliseconds: retryMilliseconds)), promise: nil)
            needsFlush = true
            flushPending()
        }
        finish(reason: .drain)
    }

    /// Ends the stream on purpose. Complete frames only were ever written, so the browser
    /// has a valid cursor and resumes from it.
    func finish(reason: CloseReason) {
        guard case .streaming = state else { return }
        teardown(reason: reason)
        // Only whole frames were written, so closing ends the body cleanly; the kernel still
        // delivers what it holds after close.
        context.close(promise: nil)
    }

    private func teardown(reason: CloseReason) {
        state = .closed
        counters.recordClose(reason)
        metrics.recordDisconnect(reason)
        if let reserved {
            environment.ledger.release(reserved)
            self.reserved = nil
        }
        let level: Logger.Level = reason == .slowConsumer ? .warning : .info
        let metadata: Logger.Metadata? = logger.logLevel <= level ? streamMetadata : nil
        if let stream {
            hub.close(stream)
        }
        stream = nil  // breaks the stream ↔ handler cycle
        loop.deregister(self)
        backlog.removeAll()
        catchUp = nil
        guard var metadata else { return }
        metadata["reason"] = "\(reason.rawValue)"
        metadata["events.sent"] = "\(eventsSent)"
        metadata["duration.seconds"] = "\((NIODeadline.now() - openedAt).nanoseconds / 1_000_000_000)"
        logger.log(level: level, "stream closed", metadata: metadata)
    }

    func channelInactive(context: ChannelHandlerContext) {
        stopRequestDeadline()
        if case .streaming = state {
            teardown(reason: .clientGone)
        }
        state = .closed
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? HTTPParserError, error == .headerOverflow, case .awaitingHead = state {
            counters.recordRefusal(.headersTooLarge)
            let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")
            lingering = true
            answer(Refusal.headersTooLarge(limit: 80 << 10).error, to: head, linger: true)
            return
        }
        if lingering { return }  // the parser's complaints about the rest of the oversized head
        if error is HTTPParserError, case .awaitingHead = state {
            // Not HTTP: one JSON answer, then the connection goes.
            let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")
            answer(APIError(status: 400, code: "invalid_http", message: "the request is not valid HTTP/1.1"), to: head)
            return
        }
        logger.debug("connection error", metadata: ["error": "\(error)"])
        if case .streaming = state {
            teardown(reason: .error)
        }
        state = .closed
        context.close(promise: nil)
    }

    /// The id of the last event written (frames written start with their `id:` line), or
    /// the cursor the browser resumed from.
    var lastEventID: EventID? {
        guard let frame = lastIDFrame, let line = frame.readableBytesView.split(separator: UInt8(ascii: "\n"), maxSplits: 1).first,
            line.starts(with: "id: ".utf8)
        else { return resumedFrom }
        return EventID(String(decoding: line.dropFirst(4), as: UTF8.self)) ?? resumedFrom
    }

    // MARK: Helpers

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
