import Foundation
import Logging
import NIOCore
import NIOHTTP1
import RelayCore

/// One publisher connection on the Unix socket: HTTP/1.1 requests in, JSON answers out.
///
/// Pipelined requests are worked on together, up to ``maxInFlight`` at a time: each is
/// handed to the backend as soon as it is complete, in arrival order (the backend keeps
/// that order: ids, history and forwarding), and the answers leave in request order as
/// they become ready. So one connection that pipelines does not wait for each answer's
/// round trips (Redis, broker confirms) before the next event starts its own.
final class PublishHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// Requests whose answers are not written yet; reading from the socket stops at this
    /// many (requests already read are still worked on), which bounds what one connection
    /// holds: each waiting request is its decoded events.
    static let maxInFlight = 32

    private enum State {
        case idle
        case collecting(Exchange, Result<PublishRoute, APIError>, ByteBuffer)
        /// The request is refused (or the connection closes after the answers already
        /// owed); the rest of what the peer sends is dropped.
        case discarding
    }

    /// One request being answered: its head, and its place in the order of answers.
    struct Exchange {
        let head: HTTPRequestHead
        let ticket: Int
    }

    /// A finished answer waiting for the ones before it.
    private struct Answer {
        var version: HTTPVersion
        var status: HTTPResponseStatus
        var contentType: String
        var body: ByteBuffer
        var close: Bool
    }

    private let live: Live<PublishServer.Configuration>
    private var configuration: PublishServer.Configuration { live.value }
    private let backend: any PublishingBackend
    /// The rate limit, and what sends the events it holds back.
    private let flusher: HeldBackFlusher
    private let metrics: RelayMetrics
    /// Carries the publisher's pid and uid (from the socket's peer credentials) once known.
    private var logger: Logger
    private var state = State.idle
    /// Reused for every body on this connection: creating a decoder costs more than many a
    /// small event.
    private let decoder = JSONDecoder()
    /// Responses are written as requests complete and flushed once per event-loop tick, so
    /// a pipelining publisher gets many answers per write.
    private var flushScheduled = false
    /// The peer's identity from the kernel, once read (`nil` if it could not be read).
    private var credentials: PeerCredentials?
    /// Its supplementary groups, read once per connection and only when access rules need them.
    private var supplementaryGroups: [UInt32]?
    /// One slot per request not yet answered on the wire, in request order; `nil` until
    /// its answer is ready. `answers.first` belongs to ticket `firstTicket`.
    private var answers = CircularBuffer<Answer?>(initialCapacity: 4)
    private var firstTicket = 0
    /// A `read` was held back because ``maxInFlight`` requests are waiting.
    private var readHeld = false
    /// No further requests are taken: one was answered with `Connection: close`, or the
    /// server is shutting down. The connection closes once the answers owed are written.
    private var closing = false

    init(configuration: Live<PublishServer.Configuration>, backend: any PublishingBackend, flusher: HeldBackFlusher, metrics: RelayMetrics = RelayMetrics(), logger: Logger) {
        self.live = configuration
        self.backend = backend
        self.flusher = flusher
        self.metrics = metrics
        self.logger = logger
    }

    /// Who is publishing: the kernel's answer for the peer of a Unix socket (SO_PEERCRED),
    /// for the logs and the publisher access rules.
    func channelActive(context: ChannelHandlerContext) {
        if let provider = context.channel as? any SocketOptionProvider {
            let future: EventLoopFuture<PeerCredentials> = provider.unsafeGetSocketOption(
                level: SocketOptionLevel(SOL_SOCKET), name: PeerCredentials.option)
            future.assumeIsolated().whenSuccess { credentials in
                self.credentials = credentials
                self.logger[metadataKey: "publisher.pid"] = "\(credentials.pid)"
                self.logger[metadataKey: "publisher.uid"] = "\(credentials.uid)"
                self.logger[metadataKey: "publisher.gid"] = "\(credentials.gid)"
            }
        }
        context.fireChannelActive()
    }

    /// Checked per request rather than per connection, so a reload that narrows the rules
    /// applies to connections already open.
    private func accessRefusal() -> APIError? {
        let access = configuration.access
        if access.isOpen { return nil }
        guard let credentials else {
            logRefusal("publisher refused: its credentials could not be read")
            return APIError(status: 403, code: "publisher_not_allowed", message: "the relay could not identify this publisher (SO_PEERCRED)")
        }
        if supplementaryGroups == nil {
            supplementaryGroups = access.allowedGIDs.isEmpty
                ? [] : PublisherAccess.supplementaryGroups(pid: credentials.pid, uid: credentials.uid, gid: credentials.gid)
        }
        if access.allows(uid: credentials.uid, gid: credentials.gid, supplementaryGroups: supplementaryGroups ?? []) { return nil }
        logRefusal("publisher refused: uid and groups are not in publish.allowed-uids / publish.allowed-gids")
        return APIError(
            status: 403, code: "publisher_not_allowed",
            message: "uid \(credentials.uid) (gid \(credentials.gid)) may not publish here; see publish.allowed-uids and publish.allowed-gids")
    }

    /// Every refusal is counted (`sse_relay_publishers_refused_total`); one per 10 s is
    /// logged, with the publisher's pid, uid and gid and how many were not.
    private func logRefusal(_ message: Logger.Message) {
        let (log, notLogged) = flusher.limiter.counters.recordRefusedPublisher(now: NIODeadline.now().uptimeNanoseconds)
        guard log else { return }
        logger.warning(message, metadata: notLogged > 0 ? ["refusals.not_logged": "\(notLogged)"] : nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (unwrapInboundIn(data), state) {
        case (.head(let head), .idle):
            guard !closing else {
                state = .discarding
                return
            }
            let exchange = Exchange(head: head, ticket: takeTicket())
            if !head.isKeepAlive { closing = true }
            if let refusal = accessRefusal() {
                state = .discarding
                respond(context: context, exchange: exchange, error: refusal, close: true)
                return
            }
            let route = Result { () throws(APIError) in try PublishRoute.parse(head) }
            if let length = head.headers.first(name: "Content-Length").flatMap(Int.init), length > configuration.maxBodySize {
                state = .discarding
                respond(context: context, exchange: exchange, error: bodyTooLarge(), close: true)
                return
            }
            state = .collecting(exchange, route, context.channel.allocator.buffer(capacity: 0))
        case (.body(var part), .collecting(let exchange, let route, var body)):
            guard body.readableBytes + part.readableBytes <= configuration.maxBodySize else {
                state = .discarding
                respond(context: context, exchange: exchange, error: bodyTooLarge(), close: true)
                return
            }
            state = .idle  // drop our reference so the append does not copy
            body.writeBuffer(&part)
            state = .collecting(exchange, route, body)
        case (.end, .collecting(let exchange, let route, let body)):
            state = .idle
            switch route {
            case .failure(let error):
                respond(context: context, exchange: exchange, error: error)
            case .success(let route):
                handle(route, exchange: exchange, body: body, context: context)
            }
        case (_, .discarding):
            break
        case (.head, .collecting), (.body, .idle), (.end, .idle):
            // The HTTP decoder never produces these.
            context.close(promise: nil)
        }
    }

    /// Holds reading back while ``maxInFlight`` answers are owed: the peer's further
    /// requests wait in the kernel's socket buffer, not in memory here.
    func read(context: ChannelHandlerContext) {
        if answers.count >= Self.maxInFlight {
            readHeld = true
        } else {
            context.read()
        }
    }

    /// Shutdown: take no new requests, close once the answers owed are written.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        closing = true
        if answers.isEmpty, case .idle = state { context.close(promise: nil) }
    }

    private func takeTicket() -> Int {
        answers.append(nil)
        return firstTicket + answers.count - 1
    }

    private func bodyTooLarge() -> APIError {
        APIError(status: 413, code: "body_too_large", message: "request body is larger than \(configuration.maxBodySize) bytes")
    }

    // MARK: Routes

    private func handle(_ route: PublishRoute, exchange: Exchange, body: ByteBuffer, context: ChannelHandlerContext) {
        let eventLoop = context.eventLoop
        let head = exchange.head
        switch route {
        case .publishToClient(let client):
            publishOne(to: .client(client), exchange: exchange, body: body, context: context)
        case .publishToTopic(let topic):
            publishOne(to: .topic(topic), exchange: exchange, body: body, context: context)
        case .publishBulk:
            publishBulk(exchange: exchange, body: body, context: context)
        case .client(let client):
            let options: (scope: AdminScope, timeout: Duration)
            do {
                options = try PublishRoute.adminOptions(of: head.uri)
            } catch {
                respond(context: context, exchange: exchange, error: error)
                return
            }
            if head.method == .DELETE {
                backend.kick(client, scope: options.scope, timeout: options.timeout, on: eventLoop).assumeIsolated().whenComplete { result in
                    self.respond(context: context, exchange: exchange, result: result.map { (.ok, ResponseJSON.kicked($0)) })
                }
            } else {
                backend.connections(of: client, scope: options.scope, timeout: options.timeout, on: eventLoop).assumeIsolated().whenComplete { result in
                    self.respond(context: context, exchange: exchange, result: result.map { (.ok, ResponseJSON.connections($0)) })
                }
            }
        case .health:
            backend.status(on: eventLoop).assumeIsolated().whenComplete { result in
                self.respond(context: context, exchange: exchange, result: result.map { (.ok, ResponseJSON.status($0)) })
            }
        case .nodes:
            backend.nodes(on: eventLoop).assumeIsolated().whenComplete { result in
                self.respond(context: context, exchange: exchange, result: result.map { (.ok, ResponseJSON.nodes($0)) })
            }
        case .drain:
            let start = head.method == .POST
            if start { logger.notice("drain requested through the publish socket") }
            backend.drain(start: start, on: eventLoop).assumeIsolated().whenComplete { result in
                self.respond(
                    context: context, exchange: exchange,
                    result: result.map { status -> (HTTPResponseStatus, String) in
                        (start && status.started ? .accepted : .ok, ResponseJSON.drain(status))
                    }
                )
            }
        }
    }

    private func publishOne(to target: Target, exchange: Exchange, body: ByteBuffer, context: ChannelHandlerContext) {
        let publication: Publication
        do {
            publication = try singleEvent(for: target, head: exchange.head, body: body)
        } catch {
            respond(context: context, exchange: exchange, error: error)
            return
        }
        switch admission(publication) {
        case .admitted:
            break
        case .dropped:
            write(context: context, exchange: exchange, status: .tooManyRequests, body: ResponseJSON.rateLimited(publication.target, line: nil), contentType: "application/json", close: false)
            return
        case .deferred(let replaced):
            write(context: context, exchange: exchange, status: .accepted, body: ResponseJSON.deferred(publication.target, replaced: replaced, line: nil), contentType: "application/json", close: false)
            return
        }
        backend.publish([publication], on: context.eventLoop).assumeIsolated().whenComplete { result in
            if case .success = result {
                self.metrics.recordPublished(1, kind: .init(target))
            }
            self.respond(
                context: context, exchange: exchange,
                encoded: result.map { reports in
                    let report = reports[0]
                    let status: HTTPResponseStatus = report.brokerUnavailable ? .serviceUnavailable : report.clientNotConnected ? .notFound : .ok
                    var body = context.channel.allocator.buffer(capacity: 160)
                    ResponseJSON.report(report, into: &body)
                    return (status, body)
                }
            )
        }
    }

    private func singleEvent(for target: Target, head: HTTPRequestHead, body: ByteBuffer) throws(APIError) -> Publication {
        let bytes = body.readableBytesView
        let event: Event
        switch MediaType(head.headers) {
        case .json:
            let decoded = try EventBody.decode(bytes, with: decoder, what: "request body")
            if decoded.client != nil || decoded.topic != nil {
                throw APIError(status: 400, code: "unknown_field", message: "\"client\" and \"topic\" belong in the path here; they are for bulk lines")
            }
            event = Event(name: decoded.event, data: decoded.data, retry: decoded.retry)
        case .text:
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw APIError(status: 400, code: "invalid_utf8", message: "request body is not valid UTF-8")
            }
            let query = PublishRoute.query(of: head.uri)
            var retry: Int?
            if let raw = query.first(where: { $0.name == "retry" })?.value {
                guard let value = Int(raw) else {
                    throw APIError(status: 400, code: "invalid_retry", message: "retry must be an integer number of milliseconds")
                }
                retry = value
            }
            event = Event(name: query.first(where: { $0.name == "event" })?.value, data: text, retry: retry)
        case .ndjson, .other:
            throw MediaType.unsupported(head.headers, expected: "application/json or text/plain")
        }
        return try validated(Publication(target: target, event: event))
    }

    private func validated(_ publication: Publication) throws(APIError) -> Publication {
        do {
            try publication.event.validate(maxSize: configuration.maxEventSize)
        } catch {
            throw APIError(error)
        }
        return publication
    }

    /// NDJSON in, NDJSON out: one report per non-empty line, in order. A bad line is
    /// answered with its own error and does not stop its neighbours.
    private func publishBulk(exchange: Exchange, body: ByteBuffer, context: ChannelHandlerContext) {
        guard case .ndjson = MediaType(exchange.head.headers) else {
            respond(context: context, exchange: exchange, error: MediaType.unsupported(exchange.head.headers, expected: "application/x-ndjson"))
            return
        }
        // Each line is either a publication (by its index in `publications`), an error, or
        // an event the rate limit dropped.
        enum Line {
            case publication(Int)
            case failed(APIError, line: Int)
            case rateLimited(Target, line: Int)
            case deferred(Target, replaced: Bool, line: Int)
        }
        var lines: [Line] = []
        var publications: [Publication] = []
        let maxEvents = configuration.maxBatchEvents
        let bodyLines = NDJSONLines(body).lines
        let events = bodyLines.count
        guard events <= maxEvents else {
            respond(
                context: context, exchange: exchange,
                error: APIError(status: 413, code: "too_many_events", message: "the request holds \(events) events; the limit is \(maxEvents) per request (publish.max-batch-events)"))
            return
        }
        let view = body.readableBytesView
        for bodyLine in bodyLines {
            let lineNumber = bodyLine.number
            let line = view[(view.startIndex + bodyLine.range.lowerBound)..<(view.startIndex + bodyLine.range.upperBound)]
            do throws(APIError) {
                let publication = try bulkEvent(line)
                switch admission(publication) {
                case .admitted:
                    break
                case .dropped:
                    lines.append(.rateLimited(publication.target, line: lineNumber))
                    continue
                case .deferred(let replaced):
                    lines.append(.deferred(publication.target, replaced: replaced, line: lineNumber))
                    continue
                }
                publications.append(publication)
                lines.append(.publication(publications.count - 1))
            } catch {
                lines.append(.failed(error, line: lineNumber))
            }
        }
        let allocator = context.channel.allocator
        let reply = { (reports: [DeliveryReport]) -> (HTTPResponseStatus, ByteBuffer) in
            var out = allocator.buffer(capacity: lines.count * 160)
            for line in lines {
                switch line {
                case .publication(let index): ResponseJSON.report(reports[index], into: &out)
                case .failed(let error, let number): out.writeString(ResponseJSON.lineError(error, line: number))
                case .rateLimited(let target, let number): out.writeString(ResponseJSON.rateLimited(target, line: number))
                case .deferred(let target, let replaced, let number): out.writeString(ResponseJSON.deferred(target, replaced: replaced, line: number))
                }
                out.writeStaticString("\n")
            }
            return (.ok, out)
        }
        guard !publications.isEmpty else {
            respond(context: context, exchange: exchange, encoded: .success(reply([])), contentType: "application/x-ndjson")
            return
        }
        backend.publish(publications, on: context.eventLoop).assumeIsolated().whenComplete { result in
            if case .success = result {
                self.metrics.recordPublished(publications.count, kind: .bulk)
            }
            self.respond(context: context, exchange: exchange, encoded: result.map(reply), contentType: "application/x-ndjson")
        }
    }

    /// Applies `events.rate-limit-per-client` to client events (topics are not limited: a
    /// topic's publishers are the application itself, not one client's activity).
    private func admission(_ publication: Publication) -> PublishRateLimiter.Admission {
        guard let rate = configuration.rateLimit, case .client(let client) = publication.target else { return .admitted }
        let admission = flusher.limiter.admit(publication, client: client, configuration: rate, action: configuration.rateLimitAction)
        if case .deferred = admission { flusher.held() }
        return admission
    }

    private func bulkEvent(_ line: ByteBufferView) throws(APIError) -> Publication {
        let decoded = try EventBody.decode(line, with: decoder, what: "line")
        let target: Target
        switch (decoded.client, decoded.topic) {
        case (let raw?, nil):
            guard let client = ClientID(raw) else { throw .invalidClientID(raw) }
            target = .client(client)
        case (nil, let raw?):
            guard let topic = TopicName(raw) else { throw .invalidTopic(raw) }
            target = .topic(topic)
        default:
            throw APIError(status: 400, code: "missing_target", message: "each line needs exactly one of \"client\" or \"topic\"")
        }
        return try validated(Publication(target: target, event: Event(name: decoded.event, data: decoded.data, retry: decoded.retry)))
    }

    // MARK: Responses

    private func respond(
        context: ChannelHandlerContext, exchange: Exchange,
        result: Result<(HTTPResponseStatus, String), any Error>,
        contentType: String = "application/json"
    ) {
        let allocator = context.channel.allocator
        respond(context: context, exchange: exchange, encoded: result.map { ($0.0, allocator.buffer(string: $0.1)) }, contentType: contentType)
    }

    /// The same for an answer already written into a buffer (the publish paths).
    private func respond(
        context: ChannelHandlerContext, exchange: Exchange,
        encoded result: Result<(HTTPResponseStatus, ByteBuffer), any Error>,
        contentType: String = "application/json"
    ) {
        switch result {
        case .success(let (status, body)):
            write(context: context, exchange: exchange, status: status, body: body, contentType: contentType, close: false)
        case .failure(let error as APIError):
            respond(context: context, exchange: exchange, error: error)
        case .failure(let error):
            logger.error("publish request failed", metadata: ["error": "\(error)"])
            respond(context: context, exchange: exchange, error: APIError(status: 500, code: "internal_error", message: "the relay could not complete the request: \(error)"))
        }
    }

    private func respond(context: ChannelHandlerContext, exchange: Exchange, error: APIError, close: Bool = false) {
        logger.debug("publish request refused", metadata: ["http.status": "\(error.status)", "error.code": "\(error.code)"])
        write(context: context, exchange: exchange, status: HTTPResponseStatus(statusCode: error.status), body: error.json, contentType: "application/json", close: close)
    }

    private func write(context: ChannelHandlerContext, exchange: Exchange, status: HTTPResponseStatus, body: String, contentType: String, close: Bool) {
        write(context: context, exchange: exchange, status: status, body: context.channel.allocator.buffer(string: body), contentType: contentType, close: close)
    }

    /// Files the answer in its request's slot, then writes every answer that is next in
    /// line.
    private func write(context: ChannelHandlerContext, exchange: Exchange, status: HTTPResponseStatus, body: ByteBuffer, contentType: String, close: Bool) {
        let offset = exchange.ticket - firstTicket
        // Out of range: the connection closed after an earlier answer; nobody reads this one.
        guard offset >= 0, offset < answers.count else { return }
        answers[answers.index(answers.startIndex, offsetBy: offset)] = Answer(
            version: exchange.head.version, status: status, contentType: contentType, body: body,
            close: close || !exchange.head.isKeepAlive)
        while let first = answers.first, let answer = first {
            answers.removeFirst()
            firstTicket += 1
            emit(answer, context: context)
            if answer.close {
                // Whatever else was owed is dropped with the connection, as the peer was told.
                answers.removeAll()
                closing = true
                return
            }
        }
        if readHeld, answers.count < Self.maxInFlight {
            readHeld = false
            context.read()
        }
        if closing, answers.isEmpty {
            switch state {
            case .collecting: break  // a request being received is still answered
            case .idle, .discarding: context.close(promise: nil)
            }
        }
    }

    private func emit(_ answer: Answer, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.reserveCapacity(3)
        headers.add(name: "Content-Type", value: answer.contentType)
        headers.add(name: "Content-Length", value: String(answer.body.readableBytes))
        if answer.close { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: answer.version, status: answer.status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(answer.body))), promise: nil)
        if answer.close {
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
        } else {
            context.write(wrapOutboundOut(.end(nil)), promise: nil)
            scheduleFlush(context: context)
        }
    }
}

extension PublishHandler {
    private func scheduleFlush(context: ChannelHandlerContext) {
        guard !flushScheduled else { return }
        flushScheduled = true
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let (handler, context) = loopBound.value
            handler.flushScheduled = false
            context.flush()
        }
    }

    /// Bytes that are not HTTP: one JSON answer, then the connection is closed (there is no
    /// telling where the next request would start).
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError else {
            logger.debug("publish connection error", metadata: ["error": "\(error)"])
            context.close(promise: nil)
            return
        }
        state = .discarding
        closing = true
        // Answered after whatever is still owed for the requests before the bad bytes.
        let exchange = Exchange(head: HTTPRequestHead(version: .http1_1, method: .GET, uri: "/"), ticket: takeTicket())
        respond(context: context, exchange: exchange, error: APIError(status: 400, code: "invalid_http", message: "the request is not valid HTTP/1.1"), close: true)
    }
}

@available(*, unavailable)
extension PublishHandler: Sendable {}

/// Linux's `struct ucred` (pid, uid, gid), which Swift's Glibc module does not export.
struct PeerCredentials: Sendable {
    var pid: Int32
    var uid: UInt32
    var gid: UInt32

    /// `SO_PEERCRED` on Linux.
    static let option = SocketOptionName(17)
}

/// The body formats the publish API understands, from `Content-Type`.
enum MediaType {
    case json, text, ndjson, other(String?)

    init(_ headers: HTTPHeaders) {
        guard let raw = headers.first(name: "Content-Type") else {
            self = .other(nil)
            return
        }
        // Compare the media type (before any `;`) case-insensitively without allocating.
        let essence = raw.utf8.prefix { $0 != UInt8(ascii: ";") }
        func matches(_ name: StaticString) -> Bool {
            var trimmed = essence[...]
            while let last = trimmed.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") { trimmed = trimmed.dropLast() }
            while let first = trimmed.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") { trimmed = trimmed.dropFirst() }
            let expected = UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)
            return trimmed.count == expected.count
                && zip(trimmed, expected).allSatisfy { ($0 | 0x20) == ($1 | 0x20) }
        }
        if matches("application/json") {
            self = .json
        } else if matches("text/plain") {
            self = .text
        } else if matches("application/x-ndjson") || matches("application/jsonl") || matches("application/jsonlines") {
            self = .ndjson
        } else {
            self = .other(raw)
        }
    }

    static func unsupported(_ headers: HTTPHeaders, expected: String) -> APIError {
        let got = headers.first(name: "Content-Type").map { "got \(JSONText.excerpt($0))" } ?? "no Content-Type was sent"
        return APIError(status: 415, code: "unsupported_media_type", message: "Content-Type must be \(expected) (\(got))")
    }
}
