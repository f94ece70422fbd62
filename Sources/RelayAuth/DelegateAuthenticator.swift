import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import RelayCore

/// `auth.mode: delegate`: the local application decides. The relay forwards the subscribe
/// request's cookies and chosen headers to a local URL and admits the stream on a 2xx.
///
/// The request is `POST {path}` with a JSON body
/// `{"client_id": "...", "topics": [...], "remote_address": "..."}`; a 2xx may answer
/// `{"client_id": "...", "topics": [...], "expires_in": seconds}`, and then those win: a
/// different client id or topics outside the list are refused (403), and the stream closes
/// after `expires_in` (`token_expired`). 401 and 403 are passed on; anything else (an error,
/// no answer within the timeout) fails closed with 503.
public final class DelegateAuthenticator: SubscriberAuthenticator {
    public struct Configuration: Sendable, Equatable {
        public var endpoint: Endpoint
        /// Request headers forwarded (lowercased names); `cookie` and `authorization` always are.
        public var forwardHeaders: [String]
        public var timeout: Duration
        /// How long an answer (admit, 401, 403; never a failure) is reused for the same
        /// credentials, client id and topics; zero disables the cache.
        public var cacheTTL: Duration
        public var cacheSize: Int

        public init(endpoint: Endpoint, forwardHeaders: [String] = [], timeout: Duration = .seconds(2), cacheTTL: Duration = .seconds(5), cacheSize: Int = 10_000) {
            self.endpoint = endpoint
            self.forwardHeaders = Array(Set(["cookie", "authorization"] + forwardHeaders.map { $0.lowercased() })).sorted()
            self.timeout = timeout
            self.cacheTTL = cacheTTL
            self.cacheSize = cacheSize
        }
    }

    public enum Endpoint: Sendable, Equatable, CustomStringConvertible {
        case tcp(host: String, port: Int, path: String)
        case unix(socketPath: String, path: String)

        /// `http://127.0.0.1:PORT/path` or `unix:/path/to.sock:/path`.
        public init?(_ text: String) {
            if text.hasPrefix("unix:") {
                let rest = text.dropFirst("unix:".count)
                guard rest.hasPrefix("/"), let colon = rest.range(of: ":/") else { return nil }
                self = .unix(socketPath: String(rest[..<colon.lowerBound]), path: String(rest[rest.index(after: colon.lowerBound)...]))
                return
            }
            guard let url = URL(string: text), url.scheme == "http", let host = url.host, !host.isEmpty else { return nil }
            let path = url.path.isEmpty ? "/" : url.path
            self = .tcp(host: host, port: url.port ?? 80, path: path + (url.query.map { "?" + $0 } ?? ""))
        }

        public var description: String {
            switch self {
            case .tcp(let host, let port, let path): "http://\(host):\(port)\(path)"
            case .unix(let socketPath, let path): "unix:\(socketPath):\(path)"
            }
        }

        var path: String {
            switch self {
            case .tcp(_, _, let path), .unix(_, let path): path
            }
        }
    }

    private let configuration: Configuration
    private let group: any EventLoopGroup
    private let cache: DelegateCache
    private let logger: Logger

    public init(configuration: Configuration, group: any EventLoopGroup, logger: Logger) {
        self.configuration = configuration
        self.group = group
        self.cache = DelegateCache(capacity: configuration.cacheSize)
        self.logger = logger
    }

    public func authenticate(_ request: SubscribeCredentials) async -> Result<Grant, Refusal> {
        let forwarded = request.headers.filter { configuration.forwardHeaders.contains($0.name.lowercased()) }
        let key = Self.cacheKey(request, forwarded: forwarded)
        let now = NIODeadline.now()
        if configuration.cacheTTL > .zero, let cached = cache.lookup(key, now: now) {
            return cached
        }
        let result: Result<Grant, Refusal>
        do {
            let (status, body) = try await ask(request, forwarded: forwarded)
            result = Self.decide(status: status, body: body, request: request, now: Date())
        } catch {
            logger.warning("auth delegate failed: failing closed", metadata: ["auth.delegate": "\(configuration.endpoint)", "error": "\(error)"])
            return .failure(.authUnavailable("the application that authorizes streams did not answer; retry later"))
        }
        if configuration.cacheTTL > .zero, result.isCacheable {
            cache.store(key, result, until: now + .nanoseconds(configuration.cacheTTL.nanoseconds))
        }
        return result
    }

    /// The answer's meaning; pure, for tests.
    static func decide(status: Int, body: ByteBuffer, request: SubscribeCredentials, now: Date) -> Result<Grant, Refusal> {
        switch status {
        case 200..<300:
            break
        case 401:
            return .failure(.unauthenticated("the application did not recognize these credentials"))
        case 403:
            return .failure(.forbidden("the application does not allow this stream"))
        default:
            return .failure(.authUnavailable("the application that authorizes streams answered \(status); retry later"))
        }
        var grant = Grant(client: request.client, topics: request.topics)
        guard body.readableBytes > 0 else { return .success(grant) }
        struct Answer: Decodable {
            var client_id: String?
            var topics: [String]?
            var expires_in: Double?
        }
        guard let answer = try? JSONDecoder().decode(Answer.self, from: Data(body.readableBytesView)) else {
            // A 2xx with a body that is not our JSON (an empty "OK" page): admitted as asked.
            return .success(grant)
        }
        if let client = answer.client_id, client != request.client.rawValue {
            return .failure(.forbidden("the application does not allow this client id"))
        }
        if let allowed = answer.topics {
            for topic in request.topics where !TopicPattern.matches(allowed, topic.rawValue) {
                return .failure(.forbidden("the application does not allow topic \(JSONText.excerpt(topic.rawValue))"))
            }
        }
        if let seconds = answer.expires_in, seconds > 0 {
            grant.expiresAt = now.addingTimeInterval(seconds)
        }
        return .success(grant)
    }

    static func cacheKey(_ request: SubscribeCredentials, forwarded: [(name: String, value: String)]) -> String {
        var key = request.client.rawValue + "\n" + request.topics.map(\.rawValue).joined(separator: ",") + "\n" + (request.token ?? "")
        for (name, value) in forwarded { key += "\n" + name.lowercased() + ":" + value }
        return key
    }

    private func ask(_ request: SubscribeCredentials, forwarded: [(name: String, value: String)]) async throws -> (Int, ByteBuffer) {
        let eventLoop = group.next()
        let promise = eventLoop.makePromise(of: (HTTPResponseHead, ByteBuffer).self)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(.nanoseconds(configuration.timeout.nanoseconds))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(DelegateResponseHandler(promise: promise))
                }
            }
        let channel: any Channel
        do {
            switch configuration.endpoint {
            case .tcp(let host, let port, _):
                channel = try await bootstrap.connect(host: host, port: port).get()
            case .unix(let socketPath, _):
                channel = try await bootstrap.connect(unixDomainSocketPath: socketPath).get()
            }
        } catch {
            promise.fail(error)  // every promise is completed: NIO treats a dropped one as a bug
            throw error
        }
        let timeout = eventLoop.scheduleTask(in: .nanoseconds(configuration.timeout.nanoseconds)) {
            promise.fail(DelegateError.timeout)
            channel.close(promise: nil)
        }
        defer { timeout.cancel() }

        var body = ByteBuffer()
        body.writeString(#"{"client_id":"# + JSONText.quoted(request.client.rawValue))
        body.writeString(#","topics":["# + request.topics.map { JSONText.quoted($0.rawValue) }.joined(separator: ",") + "]")
        body.writeString(#","remote_address":"# + JSONText.quoted(request.remoteAddress) + "}")
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "localhost")
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        headers.add(name: "Connection", value: "close")
        headers.add(name: "X-Forwarded-For", value: request.remoteAddress)
        headers.add(name: "X-SSE-Relay-Client-Id", value: request.client.rawValue)
        for (name, value) in forwarded { headers.add(name: name, value: value) }
        let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: configuration.endpoint.path, headers: headers)
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        let (responseHead, responseBody) = try await promise.futureResult.get()
        channel.close(promise: nil)
        return (Int(responseHead.status.code), responseBody)
    }
}

enum DelegateError: Error, CustomStringConvertible {
    case timeout
    case closedEarly
    case answerTooLarge

    var description: String {
        switch self {
        case .timeout: "no answer within the timeout"
        case .closedEarly: "the connection closed before a complete answer"
        case .answerTooLarge: "the answer is larger than 64 KiB"
        }
    }
}

extension Result where Success == Grant, Failure == Refusal {
    var isCacheable: Bool {
        switch self {
        case .success: true
        case .failure(let refusal): refusal.reason == .unauthenticated || refusal.reason == .forbidden
        }
    }
}

/// Collects one response (head and a body of at most 64 KiB) into a promise.
final class DelegateResponseHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let promise: EventLoopPromise<(HTTPResponseHead, ByteBuffer)>
    private var head: HTTPResponseHead?
    private var body = ByteBuffer()

    init(promise: EventLoopPromise<(HTTPResponseHead, ByteBuffer)>) {
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body(var part):
            guard body.readableBytes + part.readableBytes <= 64 << 10 else {
                promise.fail(DelegateError.answerTooLarge)
                context.close(promise: nil)
                return
            }
            body.writeBuffer(&part)
        case .end:
            if let head { promise.succeed((head, body)) } else { promise.fail(DelegateError.closedEarly) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(DelegateError.closedEarly)  // no-op when already completed
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension DelegateResponseHandler: Sendable {}
