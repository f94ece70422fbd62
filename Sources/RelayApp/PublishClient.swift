import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A tiny HTTP/1.1 client for the publish socket, used by the CLI's `publish`, `clients`,
/// `kick` and `status` commands. One request per connection: the CLI makes one call.
public struct PublishClient: Sendable {
    public let socketPath: String

    public struct Response: Sendable {
        public var status: Int
        public var body: String
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public init(socketPath: String) {
        self.socketPath = socketPath
    }

    public func request(method: HTTPMethod, path: String, contentType: String? = nil, body: String? = nil) async throws -> Response {
        let group = MultiThreadedEventLoopGroup.singleton
        let promise = group.next().makePromise(of: Response.self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(.seconds(5))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(ResponseCollector(promise: promise))
                    }
                }
                .connect(unixDomainSocketPath: socketPath).get()
        } catch {
            promise.fail(error)
            throw Failure(description: "cannot connect to \(socketPath): \(Self.describe(error)) (is `sse-relay serve` running? pass --socket PATH)")
        }
        var headers = HTTPHeaders([("Host", "sse-relay"), ("Connection", "close")])
        var buffer: ByteBuffer?
        if let body {
            buffer = ByteBuffer(string: body)
            headers.add(name: "Content-Length", value: String(buffer!.readableBytes))
        }
        if let contentType { headers.add(name: "Content-Type", value: contentType) }
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: headers)
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if let buffer { channel.write(HTTPClientRequestPart.body(.byteBuffer(buffer)), promise: nil) }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        defer { channel.close(promise: nil) }
        return try await promise.futureResult.get()
    }

    private static func describe(_ error: any Error) -> String {
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)) }
        return "\(error)"
    }
}

private final class ResponseCollector: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let promise: EventLoopPromise<PublishClient.Response>
    private var status = 0
    private var body = ByteBuffer()

    init(promise: EventLoopPromise<PublishClient.Response>) {
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = Int(head.status.code)
        case .body(var part):
            body.writeBuffer(&part)
        case .end:
            promise.succeed(.init(status: status, body: String(buffer: body)))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(PublishClient.Failure(description: "the relay closed the connection without an answer"))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension ResponseCollector: Sendable {}
