import Foundation
import Logging
import NIOCore
import NIOExtras
import NIOHTTP1
import NIOPosix
import RelayCore
import ServiceLifecycle

/// The publish API: HTTP/1.1 over a Unix socket, for applications on this host.
///
/// A Unix socket rather than a TCP port: file permissions decide who may publish, and no
/// network path reaches it.
public final class PublishServer: Service {
    public let configuration: Configuration
    /// Limits that a reload can change (event and body sizes); the socket itself needs a
    /// restart.
    private let live: Live<Configuration>
    private let listener: any Channel
    /// `nil` when systemd owns the socket file (socket activation).
    private let socketFile: UnixSocketFile?
    /// On shutdown: stop accepting, let requests in flight get their answers, then close.
    private let quiescing: ServerQuiescingHelper
    private let logger: Logger

    private init(
        configuration: Configuration, live: Live<Configuration>, listener: any Channel, socketFile: UnixSocketFile?,
        quiescing: ServerQuiescingHelper, logger: Logger
    ) {
        self.quiescing = quiescing
        self.configuration = configuration
        self.live = live
        self.listener = listener
        self.socketFile = socketFile
        self.logger = logger
    }

    /// Creates the socket file with its final mode, refusing to take over a live socket.
    public static func bind(
        configuration: Configuration,
        backend: any PublishingBackend,
        metrics: RelayMetrics = RelayMetrics(),
        adoptedSocket: CInt? = nil,
        group: any EventLoopGroup,
        logger: Logger
    ) async throws -> PublishServer {
        let live = Live(configuration)
        let quiescing = ServerQuiescingHelper(group: group)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                }
            }
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: false)
                    try channel.pipeline.syncOperations.addHandler(PublishHandler(configuration: live, backend: backend, metrics: metrics, logger: logger))
                }
            }
        if let adoptedSocket {
            // systemd created the file with its own mode and group (the socket unit).
            let listener = try await bootstrap.withBoundSocket(adoptedSocket).get()
            return PublishServer(
                configuration: configuration, live: live, listener: listener, socketFile: nil, quiescing: quiescing, logger: logger
            )
        }
        let socketFile = UnixSocketFile(path: configuration.socketPath)
        try await socketFile.prepare(group: group)
        let listener = try await socketFile.bind(mode: configuration.socketMode) { path in
            try await bootstrap.bind(unixDomainSocketPath: path).get()
        }
        return PublishServer(
            configuration: configuration, live: live, listener: listener, socketFile: socketFile, quiescing: quiescing, logger: logger
        )
    }

    public func reconfigure(_ configuration: Configuration) {
        live.replace(with: configuration)
    }

    public func run() async throws {
        try? await gracefulShutdown()
        // Stops accepting and asks every connection to close once its current request is
        // answered (HTTPServerPipelineHandler does that part); a request that is stuck does
        // not hold shutdown for more than a few seconds.
        let quiesced = listener.eventLoop.makePromise(of: Void.self)
        quiescing.initiateShutdown(promise: quiesced)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await quiesced.futureResult.get() }
            group.addTask { try? await Task.sleep(for: .seconds(5)) }
            await group.next()
            group.cancelAll()
        }
        socketFile?.remove()
        logger.info("publish socket closed", metadata: ["socket.path": "\(configuration.socketPath)"])
    }
}
