import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// The operator port: Prometheus `/metrics`, `/healthz`, `/readyz` and the live status page.
///
/// Separate from the subscriber port on purpose: it is loopback by default, never reachable
/// by browsers through the load balancer, and a flood of streams cannot starve a scrape.
public final class MetricsServer: Service {
    public struct Configuration: Sendable, Equatable {
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
    }

    /// The address actually bound.
    public let localAddress: SocketAddress
    private let listener: any Channel
    private let logger: Logger

    private init(localAddress: SocketAddress, listener: any Channel, logger: Logger) {
        self.localAddress = localAddress
        self.listener = listener
        self.logger = logger
    }

    static func bind(
        configuration: Configuration, routes: MetricsRoutes, adoptedSocket: CInt?, group: any EventLoopGroup, logger: Logger
    ) async throws -> MetricsServer {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(MetricsHandler(routes: routes))
                }
            }
        let listener: any Channel
        if let adoptedSocket {
            listener = try await bootstrap.withBoundSocket(adoptedSocket).get()
        } else {
            listener = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        }
        guard let localAddress = listener.localAddress else {
            throw ChannelError.unknownLocalAddress
        }
        return MetricsServer(localAddress: localAddress, listener: listener, logger: logger)
    }

    /// Holds the listener until shutdown. It closes last of the listeners (it is first in
    /// the service group), so readiness reports "draining" while streams move away.
    public func run() async throws {
        try? await gracefulShutdown()
        try? await listener.close()
    }
}
