import Foundation
import Logging
import NIOCore
import NIOPosix
import RelayAMQP
import RelayAuth
import RelayCore
import RelayPublishing
import RelayRedis
import RelaySSE
import RelaySystemd
import ServiceLifecycle
import Synchronization
import UnixSignals

/// `sse-relay serve`: connects the backends (cluster mode), binds both listeners, then runs
/// until SIGTERM or SIGINT.
///
/// Listeners are bound before the service group starts so that a taken port or a live
/// socket stops start-up with one clear error, and so that "started" means "accepting".
public struct RelayApplication {
    public let configuration: RelayConfiguration
    let logger: Logger
    /// The log level every handler reads, so a reload can change it.
    let logLevel: LogLevelSource?
    /// Reads the configuration again from the same sources (for SIGHUP).
    let reloadConfiguration: @Sendable () async throws -> RelayConfiguration
    let notifier = SystemdNotifier.fromEnvironment()
    /// The one switch that says "this node is draining": set on SIGTERM (and by
    /// `sse-relay drain`); readiness and stream admission read it.
    public let drainSwitch = DrainSwitch()
    /// JWT mode: the authenticator whose keys a reload replaces.
    let jwtAuthenticator = LateBound<JWTAuthenticator>()
    /// Frames one event loop may have waiting before the broker's consumer stops taking
    /// messages: a second or more of writing at any rate seen here, and a few MiB at most
    /// (the frames themselves are shared with every other delivery of their event).
    static let consumerBacklogLimit = 20_000

    public init(
        configuration: RelayConfiguration, logger: Logger, logLevel: LogLevelSource? = nil,
        reloadConfiguration: @escaping @Sendable () async throws -> RelayConfiguration
    ) {
        self.configuration = configuration
        self.logger = logger
        self.logLevel = logLevel
        self.reloadConfiguration = reloadConfiguration
    }

    /// - Parameter onReady: called once both listeners accept (and, in cluster mode, the
    ///   node is registered), with the bound subscriber address.
    public func run(onReady: @Sendable (SocketAddress) -> Void = { _ in }) async throws {
        if let cluster = configuration.cluster {
            try await runCluster(cluster, onReady: onReady)
        } else {
            try await runStandalone(onReady: onReady)
        }
    }

    private func runStandalone(onReady: @Sendable (SocketAddress) -> Void) async throws {
        let drainSwitch = self.drainSwitch
        let epoch = UInt64(Date().timeIntervalSince1970 * 1000)
        let (metrics, registry) = MetricsExporter.make(nodeID: configuration.nodeID, enabled: configuration.metrics != nil, cluster: false)
        let hub = Hub<SSEStream>(history: configuration.history, epoch: epoch, metrics: metrics)
        let counters = StreamCounters(metrics: metrics)
        let drain = makeNodeDrain(drainSwitch, advertisedAddress: nil) {}
        let backend = StandaloneRelay(hub: hub, nodeID: configuration.nodeID, counters: counters, drain: drain, epoch: Int64(epoch))
        let exporter = MetricsExporter(metrics: metrics, registry: registry) { backend.local.status(mode: "standalone") }
        let nodeID = configuration.nodeID
        let sampler = StatusSampler {
            let status = exporter.status()
            let node = StatusSampler.NodeSummary(id: nodeID, address: drain.advertisedAddress, connections: status.statistics.connections, version: status.version)
            return .init(status: status, totals: metrics.snapshotTotals, nodes: [node])
        }
        let (sseServer, publishServer, metricsServer) = try await bindListeners(
            hub: hub, replaySource: nil, counters: counters, drainSwitch: drainSwitch, backend: backend,
            exporter: exporter, sampler: sampler, beforeDrain: {}
        )
        drain.server.value = sseServer
        let supervision = makeSupervision(probes: [], sseServer: sseServer, publishServer: publishServer, hub: hub) {
            (drainSwitch.isDraining ? "draining, " : "") + "standalone, \(hub.statistics.connections) connections"
        }
        logStarted(sseServer, mode: "standalone", metricsServer: metricsServer)
        supervision.ready()
        onReady(sseServer.localAddress)
        let exporting: [any Service] = metricsServer.map { [$0, sampler] } ?? []
        let services: [any Service] = [supervision] + exporting + [sseServer, publishServer]
        try await runServices(services)
    }

    private func runCluster(_ cluster: RelayConfiguration.Cluster, onReady: @Sendable (SocketAddress) -> Void) async throws {
        let drainSwitch = self.drainSwitch
        let nodeID = configuration.nodeID
        let (metrics, prometheus) = MetricsExporter.make(nodeID: nodeID, enabled: configuration.metrics != nil, cluster: true)
        let registryHandle = LateBound<RedisRegistry>()
        let subscriberServer = LateBound<SSEServer>()
        let redis = RedisClient(configuration: cluster.redis, logger: logger, metrics: metrics) {
            // After any (re)connection, re-announce everything this node holds.
            registryHandle.value?.refreshSoon()
        }
        let amqp = AMQPConfiguration(urls: cluster.amqpURLs, nodeID: nodeID, password: cluster.amqpPassword, exchange: cluster.amqpExchange)
        let registry = RedisRegistry(
            client: redis,
            configuration: .init(
                nodeID: nodeID, advertisedAddress: cluster.advertise, queue: amqp.queuePrefix + nodeID,
                version: RelayVersion.current, heartbeat: cluster.heartbeat, ttl: cluster.ttl
            ),
            logger: logger
        )
        registryHandle.value = registry
        // The shared history replaces the hub's own window in cluster mode.
        let hub = Hub<SSEStream>(history: .init(eventsPerStream: 0), epoch: 0, membershipChanged: { registry.changed($0) }, metrics: metrics)
        let store = RedisEventStore(
            client: redis,
            configuration: .init(nodeID: nodeID, historySize: configuration.history.eventsPerStream, historyAge: configuration.history.maxAge)
        )
        let counters = StreamCounters(metrics: metrics)
        let drain = makeNodeDrain(drainSwitch, advertisedAddress: cluster.advertise) {
            // Other nodes must stop routing here while browsers move away.
            await registry.leave()
        }
        let local = LocalNode(hub: hub, nodeID: nodeID, counters: counters, drain: drain)
        let forwarder: AMQPForwarder
        let consumer: AMQPConsumer
        let admin: ClusterAdmin
        do {
            forwarder = try AMQPForwarder(configuration: amqp, logger: logger)
            admin = ClusterAdmin(nodeID: nodeID, directory: registry, sender: forwarder, clock: { Int64(Date().timeIntervalSince1970 * 1000) }) { action, client in
                await local.answer(action, client: client)
            }
            consumer = try AMQPConsumer(configuration: amqp, logger: logger) { events in
                ClusterRelay.receive(events, into: hub)
                // Acknowledged only once the loops keep up: with a stalled loop, unacknowledged
                // messages (prefetch) wait in the broker, not in this process's memory.
                await subscriberServer.value?.deliveryBacklog(below: Self.consumerBacklogLimit)
            } control: { message in
                // Answering waits for the broker's confirm: not in the way of the events.
                Task { await admin.receive(message) }
            }
        } catch {
            throw ConfigurationError(key: "amqp.url", problem: "\(error)")
        }
        let backends = ClusterBackends(redis: redis, registry: registry, forwarder: forwarder, consumer: consumer, logger: logger)
        do {
            try await backends.waitUntilConnected(timeout: cluster.startupTimeout, redisEndpoint: cluster.redis.endpointDescription, amqpURLs: cluster.amqpURLs)
            try await registry.announce(hub)
        } catch {
            await backends.shutdown()
            throw error
        }
        let backend = ClusterRelay(
            local: local, store: store, registry: registry, forwarder: forwarder, admin: admin,
            health: { ["redis": redis.isConnected, "amqp": forwarder.isConnected && consumer.isConnected] }
        )
        let exporter = MetricsExporter(metrics: metrics, registry: prometheus) { backend.local.status(mode: "cluster", backends: backend.health()) }
        let amqpWatch = ReconnectWatch(counter: metrics.amqpReconnects)
        let sampler = StatusSampler {
            let status = exporter.status()
            amqpWatch.observe(up: status.backends["amqp"] ?? false)
            let nodes = ((try? await registry.nodes()) ?? []).map {
                StatusSampler.NodeSummary(id: $0.id, address: $0.address, connections: $0.connections, version: $0.version)
            }
            return .init(status: status, totals: metrics.snapshotTotals, nodes: nodes)
        }
        let listeners: (SSEServer, PublishServer, MetricsServer?)
        do {
            listeners = try await bindListeners(
                hub: hub, replaySource: RoutedReplaySource(store: store, registry: registry), counters: counters, drainSwitch: drainSwitch, backend: backend,
                exporter: exporter, sampler: sampler
            ) {
                // Draining: other nodes must stop routing here while browsers move away.
                await registry.leave()
            }
        } catch {
            await backends.shutdown()
            throw error
        }
        drain.server.value = listeners.0
        subscriberServer.value = listeners.0
        let probes = [
            Supervision.Probe(name: "redis") { redis.progress },
            Supervision.Probe(name: "amqp-forwarder") { forwarder.progress },
            Supervision.Probe(name: "amqp-consumer") { consumer.progress },
        ]
        let supervision = makeSupervision(probes: probes, sseServer: listeners.0, publishServer: listeners.1, hub: nil) {
            let degraded = [("redis", redis.isConnected), ("amqp", forwarder.isConnected && consumer.isConnected)]
                .filter { !$0.1 }.map { "\($0.0) down" }
            return (drainSwitch.isDraining ? "draining, " : "") + "cluster node \(nodeID), \(hub.statistics.connections) connections"
                + (degraded.isEmpty ? "" : ", degraded: " + degraded.joined(separator: ", "))
        }
        logStarted(listeners.0, mode: "cluster", metricsServer: listeners.2)
        supervision.ready()
        onReady(listeners.0.localAddress)
        let exporting: [any Service] = listeners.2.map { [$0, sampler] } ?? []
        let services: [any Service] = [supervision] + exporting + [backends, listeners.0, listeners.1]
        try await runServices(services)
    }

    /// Binds the listeners, or adopts the sockets systemd passed (socket activation, by
    /// `FileDescriptorName=` `http`, `publish` and `metrics`).
    private func bindListeners(
        hub: Hub<SSEStream>, replaySource: (any ReplaySource)?, counters: StreamCounters, drainSwitch: DrainSwitch,
        backend: any PublishingBackend, exporter: MetricsExporter, sampler: StatusSampler,
        beforeDrain: @escaping @Sendable () async -> Void
    ) async throws -> (SSEServer, PublishServer, MetricsServer?) {
        let group = MultiThreadedEventLoopGroup.singleton
        let activated = SocketActivation.listeners()
        if !activated.isEmpty {
            logger.info("adopting sockets from systemd", metadata: ["sockets": "\(activated.keys.sorted().joined(separator: ","))"])
        }
        let notifier = self.notifier
        let drainPeriod = configuration.drainPeriod
        let drainSwitch = self.drainSwitch
        let sseServer = try await SSEServer.bind(
            configuration: configuration.sse, hub: hub, replaySource: replaySource, counters: counters,
            authenticator: await makeAuthenticator(group: group), drainSwitch: drainSwitch,
            adoptedSocket: activated["http"],
            beforeDrain: {
                drainSwitch.engage()
                _ = notifier?.stopping(status: "draining")
                // The drain may outlast the unit's stop timeout: ask for what it needs.
                _ = notifier?.extendTimeout(drainPeriod + .seconds(15))
                await beforeDrain()
            },
            group: group, logger: logger
        )
        if case .none(allowAnonymous: false) = configuration.auth, let host = sseServer.localAddress.ipAddress,
            !RelayConfiguration.isLoopback(host)
        {
            // A socket from systemd can be bound anywhere, whatever `listen` says.
            try? await sseServer.closeAllStreams(reason: .drain)
            throw ConfigurationError(
                key: "auth.mode",
                problem: "the subscriber socket is bound to \(host), not loopback, and no subscriber auth is set: set auth.mode (jwt or delegate), or auth.allow-anonymous: true"
            )
        }
        do {
            var metricsServer: MetricsServer?
            if configuration.metrics == nil, activated["metrics"] != nil {
                // systemd keeps listening on it whatever the relay does: scrapes would hang.
                logger.warning(
                    "metrics.listen is off but systemd passes a metrics socket: it is not served; disable it with systemctl mask --now sse-relay-metrics.socket")
            }
            if let metricsConfiguration = configuration.metrics {
                let routes = MetricsRoutes(
                    scrape: exporter.scrape, notReadyReasons: { exporter.status().notReadyReasons }, sampler: sampler, group: group
                )
                do {
                    metricsServer = try await MetricsServer.bind(
                        configuration: metricsConfiguration, routes: routes, adoptedSocket: activated["metrics"], group: group, logger: logger
                    )
                } catch {
                    throw ConfigurationError(
                        key: "metrics.listen", problem: "cannot listen on \(metricsConfiguration.host):\(metricsConfiguration.port): \(error)"
                    )
                }
            }
            let publishServer = try await PublishServer.bind(
                configuration: configuration.publish, backend: backend, metrics: hub.metrics, adoptedSocket: activated["publish"],
                counters: PublishCounters(metrics: hub.metrics), group: group, logger: logger
            )
            return (sseServer, publishServer, metricsServer)
        } catch {
            try? await sseServer.closeAllStreams(reason: .drain)
            throw error
        }
    }

    /// The drain `sse-relay drain` starts: tells systemd (STATUS, not STOPPING: the process
    /// keeps running) and runs `leave` before streams are closed.
    private func makeNodeDrain(
        _ drainSwitch: DrainSwitch, advertisedAddress: String?, leave: @escaping @Sendable () async -> Void
    ) -> NodeDrain {
        let (notifier, logger) = (self.notifier, self.logger)
        return NodeDrain(drainSwitch: drainSwitch, advertisedAddress: advertisedAddress) {
            logger.notice("draining on request: refusing new streams and moving browsers to other nodes")
            _ = notifier?.status("draining")
            await leave()
        }
    }

    /// The subscriber authenticator `auth.mode` asks for; says loudly when there is none.
    private func makeAuthenticator(group: any EventLoopGroup) async -> any SubscriberAuthenticator {
        switch configuration.auth {
        case .none(let allowAnonymous):
            logger.warning(
                "subscriber auth is off (auth.mode none): anyone who reaches the subscriber port can open any stream",
                metadata: [
                    "listen": "\(configuration.sse.host):\(configuration.sse.port)",
                    "auth.allow_anonymous": "\(allowAnonymous)",
                ]
            )
            return AnonymousAuthenticator()
        case .jwt(let jwt):
            let authenticator = await JWTAuthenticator(configuration: jwt)
            jwtAuthenticator.value = authenticator
            logger.info("subscriber auth: JWT", metadata: ["auth.keys": "\(jwt.keys.summary)", "auth.topics_claim": "\(jwt.policy.topicsClaim)"])
            return authenticator
        case .delegate(let delegate):
            logger.info("subscriber auth: delegated", metadata: ["auth.delegate": "\(delegate.endpoint)"])
            return DelegateAuthenticator(configuration: delegate, group: group, logger: logger)
        }
    }

    private func logStarted(_ sseServer: SSEServer, mode: String, metricsServer: MetricsServer?) {
        logger.info(
            "sse-relay started",
            metadata: [
                "node.id": "\(configuration.nodeID)", "mode": "\(mode)",
                "listen": "\(sseServer.localAddress.ipAddress ?? "?"):\(sseServer.localAddress.port ?? 0)",
                "socket.path": "\(configuration.publish.socketPath)",
                "metrics.listen": "\(metricsServer.map { "\($0.localAddress.ipAddress ?? "?"):\($0.localAddress.port ?? 0)" } ?? "off")",
            ]
        )
    }

    /// Services shut down in reverse order: the publish socket closes first (no new events),
    /// then streams end cleanly, then (cluster) the node leaves the registry and the backend
    /// connections close.
    private func runServices(_ services: [any Service]) async throws {
        let serviceGroup = ServiceGroup(
            configuration: .init(
                services: services.map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await serviceGroup.run()
        logger.info("sse-relay stopped")
    }
}

/// A reference filled in after construction, for the one cycle in the wiring (the Redis
/// client's reconnect hook needs the registry built on that client).
final class LateBound<Value: Sendable>: Sendable {
    private let storage = Mutex<Value?>(nil)
    var value: Value? {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
}
