import Foundation
import Logging
import NIOCore
import NIOExtras
import NIOHTTP1
import NIOPosix
import RelayCore
import RelayHTTP
import ServiceLifecycle

/// The publish API: HTTP/1.1 over a Unix socket, for applications on this host.
///
/// A Unix socket rather than a TCP port: file permissions decide who may publish, and no
/// network path reaches it.
public final class PublishServer: Service {
    public let configuration: Configuration
    /// Rate-limited events and refused publishers, for status answers and metrics.
    public let counters: PublishCounters
    /// Limits that a reload can change (event and body sizes); the socket itself needs a
    /// restart.
    private let live: Live<Configuration>
    private let listener: any Channel
    /// `nil` when systemd owns the socket file (socket activation).
    private let socketFile: UnixSocketFile?
    /// Sends coalesced events when their client id's rate allows.
    private let flusher: HeldBackFlusher
    /// On shutdown: stop accepting, let requests in flight get their answers, then close.
    private let quiescing: ServerQuiescingHelper
    private let logger: Logger

    private init(
        configuration: Configuration, live: Live<Configuration>, listener: any Channel, socketFile: UnixSocketFile?,
        quiescing: ServerQuiescingHelper, counters: PublishCounters, flusher: HeldBackFlusher, logger: Logger
    ) {
        self.flusher = flusher
        self.quiescing = quiescing
        self.counters = counters
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
        counters: PublishCounters = PublishCounters(),
        group: any EventLoopGroup,
        logger: Logger
    ) async throws -> PublishServer {
        let live = Live(configuration)
        let flusher = HeldBackFlusher(
            limiter: PublishRateLimiter(counters: counters), live: live, backend: backend, eventLoop: group.next(), logger: logger)
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
                    let timeout = RequestTimeout(
                        requestTimeout: TimeAmount(live.value.requestTimeout), idleTimeout: TimeAmount(live.value.idleTimeout))
                    try channel.pipeline.syncOperations.addHandler(timeout.byteWatcher)
                    // No pipelining assistance: PublishHandler works on pipelined requests
                    // together and orders the answers itself. No outbound header validation:
                    // every response header here is a constant or a number the handler
                    // writes itself, and checking them costs about 2% of a single-event publish.
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withPipeliningAssistance: false, withErrorHandling: false, withOutboundHeaderValidation: false)
                    try channel.pipeline.syncOperations.addHandler(timeout.partWatcher)
                    try channel.pipeline.syncOperations.addHandler(PublishHandler(configuration: live, backend: backend, flusher: flusher, metrics: metrics, logger: logger))
                }
            }
        if let adoptedSocket {
            // systemd created the file with its own mode and group (the socket unit).
            let listener = try await bootstrap.withBoundSocket(adoptedSocket).get()
            return PublishServer(
                configuration: configuration, live: live, listener: listener, socketFile: nil, quiescing: quiescing, counters: counters, flusher: flusher, logger: logger
            )
        }
        let socketFile = UnixSocketFile(path: configuration.socketPath)
        let listener: any Channel
        do {
            try await socketFile.prepare(group: group)
            listener = try await socketFile.bind(mode: configuration.socketMode, group: configuration.socketGroup) { path in
            try await bootstrap.bind(unixDomainSocketPath: path).get()
            }
        } catch {
            flusher.stop()
            throw error
        }
        return PublishServer(
            configuration: configuration, live: live, listener: listener, socketFile: socketFile, quiescing: quiescing, counters: counters, flusher: flusher, logger: logger
        )
    }

    public func reconfigure(_ configuration: Configuration) {
        live.replace(with: configuration)
    }

    public func run() async throws {
        try? await gracefulShutdown()
        // Stops accepting and asks every connection to close once the answers it is owed
        // are written (PublishHandler does that part); a request that is stuck does not hold
        // shutdown for more than a few seconds.
        let quiesced = listener.eventLoop.makePromise(of: Void.self)
        quiescing.initiateShutdown(promise: quiesced)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await quiesced.futureResult.get() }
            group.addTask { try? await Task.sleep(for: .seconds(5)) }
            await group.next()
            group.cancelAll()
        }
        socketFile?.remove()
        flusher.stop()
        logger.info("publish socket closed", metadata: ["socket.path": "\(configuration.socketPath)"])
    }
}
