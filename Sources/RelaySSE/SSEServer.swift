import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import RelayAuth
import RelayCore
import ServiceLifecycle
import Synchronization

/// The subscriber port: `GET /events/{clientId}` streams over HTTP/1.1.
///
/// Binding happens in ``bind(configuration:hub:replaySource:counters:group:logger:)`` before the service group
/// starts, so a taken port stops start-up with a clear error and "ready" means "bound".
/// ``run()`` then holds the listener until graceful shutdown, stops accepting, and ends
/// every stream cleanly.
public final class SSEServer: Service {
    public let configuration: Configuration
    /// The address actually bound (the port is known even when 0 was asked for).
    public let localAddress: SocketAddress
    private let listener: any Channel
    private let loops: [StreamLoop]
    private let environment: StreamEnvironment
    private let logger: Logger
    /// Runs when shutdown begins, before streams are drained (cluster mode: leave the
    /// registry, so publishers stop routing here while browsers move away).
    private let beforeDrain: @Sendable () async -> Void
    /// The one drain of this server's life, started by SIGTERM or `sse-relay drain`.
    private let draining = Mutex<Task<Void, Never>?>(nil)

    private init(
        configuration: Configuration, localAddress: SocketAddress, listener: any Channel, loops: [StreamLoop],
        environment: StreamEnvironment, beforeDrain: @escaping @Sendable () async -> Void, logger: Logger
    ) {
        self.environment = environment
        self.beforeDrain = beforeDrain
        self.configuration = configuration
        self.localAddress = localAddress
        self.listener = listener
        self.loops = loops
        self.logger = logger
    }

    /// Each channel keeps its last receive buffer for reuse for as long as it lives, and a
    /// held stream never reads again after its request: with NIO's default 2 KiB first
    /// buffer that was 40% of an idle stream's memory (heaptrack, 4,000 streams). A request
    /// head is usually a few hundred bytes; a larger one grows the same buffer.
    static let receiveAllocator = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 64 << 10)

    public static func bind(
        configuration: Configuration,
        hub: Hub<SSEStream>,
        replaySource: (any ReplaySource)? = nil,
        counters: StreamCounters = StreamCounters(),
        authenticator: any SubscriberAuthenticator = AnonymousAuthenticator(),
        drainSwitch: DrainSwitch = DrainSwitch(),
        adoptedSocket: CInt? = nil,
        beforeDrain: @escaping @Sendable () async -> Void = {},
        group: any EventLoopGroup,
        logger: Logger
    ) async throws -> SSEServer {
        var loopsByID: [ObjectIdentifier: StreamLoop] = [:]
        var loops: [StreamLoop] = []
        for eventLoop in group.makeIterator() {
            let loop = StreamLoop(eventLoop: eventLoop, metrics: hub.metrics)
            loopsByID[ObjectIdentifier(eventLoop)] = loop
            loops.append(loop)
        }
        let streamLoops = loopsByID
        let environment = StreamEnvironment(
            configuration: configuration, hub: hub, replaySource: replaySource, counters: counters,
            authenticator: authenticator, drainSwitch: drainSwitch, logger: logger
        )
        let tick = Self.sweepTick(
            keepAlive: configuration.keepAlive, maxLifetime: configuration.maxLifetime, requestTimeout: configuration.requestTimeout)
        for loop in loops {
            loop.start(tick: tick, keepAlive: { TimeAmount(environment.configuration.keepAlive) })
        }

        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let loop = streamLoops[ObjectIdentifier(channel.eventLoop)] else {
                        preconditionFailure("child channel on an event loop outside the server's group")
                    }
                    // Set here, synchronously, rather than as the bootstrap's child options,
                    // which apply through a chain of futures per connection (about 8% of
                    // the CPU of a connect in the churn profile). The initializer runs before
                    // the channel is registered, so before its first read.
                    if let options = channel.syncOptions {
                        try options.setOption(.tcpOption(.tcp_nodelay), value: 1)
                        try options.setOption(.writeBufferWaterMark, value: SSEStreamHandler.writeBufferWaterMark)
                        try options.setOption(.recvAllocator, value: SSEServer.receiveAllocator)
                    }
                    let handler = SSEStreamHandler(environment: environment, loop: loop)
                    // Named so the stream can remove them once its response head is out:
                    // from then on frames go to the socket as they are (the body is
                    // delimited by the connection's close), and a held stream keeps no
                    // HTTP parser state. No timeout handlers: the stream handler keeps the
                    // request deadline itself (see `SSEStreamHandler.requestDeadline`).
                    let operations = channel.pipeline.syncOperations
                    var encoderConfiguration = HTTPResponseEncoder.Configuration()
                    encoderConfiguration.automaticallySetFramingHeaders = false
                    try operations.addHandler(HTTPResponseEncoder(configuration: encoderConfiguration), name: SSEStreamHandler.encoderName)
                    try operations.addHandler(
                        ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)),
                        name: SSEStreamHandler.decoderName
                    )
                    try operations.addHandler(handler)
                }
            }
        // A socket passed by systemd (socket activation) is already bound and listening; its
        // queue survived the previous process, so a restart loses no connection attempt.
        let listener: any Channel
        if let adoptedSocket {
            listener = try await bootstrap.withBoundSocket(adoptedSocket).get()
        } else {
            listener = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        }
        guard let localAddress = listener.localAddress else {
            throw ChannelError.unknownLocalAddress
        }
        return SSEServer(
            configuration: configuration, localAddress: localAddress, listener: listener, loops: loops,
            environment: environment, beforeDrain: beforeDrain, logger: logger
        )
    }

    /// Applies settings that can change live (keep-alive, lifetime, limits, retry, CORS,
    /// drain period); the address and node id need a restart.
    public func reconfigure(_ configuration: Configuration) {
        environment.live.replace(with: configuration)
    }

    /// Streams this node holds now, as the connection limits count them.
    public var heldStreams: Int { environment.ledger.total }

    /// The settings in force now.
    public var currentConfiguration: Configuration { environment.configuration }

    /// Holds the listener until shutdown, then drains: stop accepting, run `beforeDrain`,
    /// close streams spread over the drain period, each with a short retry hint.
    public func run() async throws {
        try? await gracefulShutdown()
        try? await listener.close()
        await beforeDrain()
        await drain(prepare: {}).task.value
        try await closeAllStreams(reason: .drain)
    }

    /// Starts the drain once (later calls return the same task): engages the drain switch, so
    /// new streams are refused, runs `prepare` (leave the registry), then closes the open
    /// streams spread over the drain period, each after a short retry hint. The listener
    /// stays open, so browsers that come back here get a clear 503 instead of a refused
    /// connection. Used by shutdown and by `sse-relay drain`; `started` is true for the call
    /// that started it.
    @discardableResult
    public func drain(prepare: @escaping @Sendable () async -> Void) -> (task: Task<Void, Never>, started: Bool) {
        draining.withLock { task in
            if let task { return (task, false) }
            environment.drainSwitch.engage()
            let loops = self.loops
            let period = environment.configuration.drainPeriod
            let logger = self.logger
            let started = Task {
                await prepare()
                logger.notice("draining streams", metadata: ["drain.seconds": "\(period.components.seconds)"])
                let drains = loops.map { $0.drain(over: period) }
                for drain in drains {
                    try? await drain.get()
                }
            }
            task = started
            return (started, true)
        }
    }

    /// Returns once no event loop has more than `limit` frames waiting to be written, at once
    /// in the usual case. A source that can wait, such as the broker's consumer (which
    /// acknowledges a message only after this), is slowed to what the loops write instead of
    /// filling their queues without bound while one of them is stalled. Costs a lock per
    /// loop when nothing waits.
    public func deliveryBacklog(below limit: Int) async {
        for loop in loops where loop.pendingDeliveries > limit {
            try? await loop.settled().get()
        }
    }

    /// Open streams right now (the drain command waits for this to reach zero).
    public var openStreams: Int {
        get async {
            var total = 0
            for loop in loops {
                total += (try? await loop.eventLoop.submit { loop.openCount }.get()) ?? 0
            }
            return total
        }
    }

    /// Ends every stream on every loop (used on shutdown; later, by drain).
    public func closeAllStreams(reason: CloseReason) async throws {
        for loop in loops {
            try await loop.closeAll(reason: reason).get()
        }
        logger.info("all streams closed", metadata: ["reason": "\(reason.rawValue)"])
    }

    /// Keep-alives, lifetimes and request deadlines are checked this often: a quarter of the
    /// keep-alive or of the request timeout, or a twentieth of the lifetime, whichever is
    /// shortest, within 50 ms ... 1 s.
    static func sweepTick(keepAlive: Duration, maxLifetime: Duration = .seconds(3600), requestTimeout: Duration = .seconds(10)) -> TimeAmount {
        let wanted = min(keepAlive.nanoseconds / 4, maxLifetime.nanoseconds / 20, requestTimeout.nanoseconds / 4)
        return .nanoseconds(min(max(wanted, 50_000_000), 1_000_000_000))
    }
}
