import Foundation
import Logging
import NIOCore
import NIOPosix
import RelayCore
import RelayPublishing
import RelaySSE
import ServiceLifecycle
import UnixSignals

/// `sse-relay serve`: binds both listeners, then runs until SIGTERM or SIGINT.
///
/// Listeners are bound before the service group starts so that a taken port or a live
/// socket stops start-up with one clear error, and so that "started" means "accepting".
public struct RelayApplication {
    public let configuration: RelayConfiguration
    private let logger: Logger

    public init(configuration: RelayConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// - Parameter onReady: called once both listeners accept, with the bound subscriber
    ///   address.
    public func run(onReady: @Sendable (SocketAddress) -> Void = { _ in }) async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let epoch = UInt64(Date().timeIntervalSince1970 * 1000)
        let hub = Hub<SSEStream>(history: configuration.history, epoch: epoch)
        let backend = StandaloneRelay(hub: hub, nodeID: configuration.nodeID)

        let sseServer = try await SSEServer.bind(configuration: configuration.sse, hub: hub, group: group, logger: logger)
        let publishServer: PublishServer
        do {
            publishServer = try await PublishServer.bind(configuration: configuration.publish, backend: backend, group: group, logger: logger)
        } catch {
            try? await sseServer.closeAllStreams(reason: .shutdown)
            throw error
        }
        logger.info(
            "sse-relay started",
            metadata: [
                "node.id": "\(configuration.nodeID)", "mode": "standalone",
                "listen": "\(sseServer.localAddress.ipAddress ?? "?"):\(sseServer.localAddress.port ?? 0)", "socket.path": "\(configuration.publish.socketPath)",
            ]
        )
        onReady(sseServer.localAddress)

        // Services shut down in reverse order: the publish socket closes first (no new
        // events), then streams end cleanly.
        let serviceGroup = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: sseServer),
                    .init(service: publishServer),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await serviceGroup.run()
        logger.info("sse-relay stopped")
    }
}
