import NIOCore
import RelayCore
import RelayPublishing
import RelayRedis
import RelaySSE

/// The relay as one node of a cluster: ids, history and routes in Redis, forwarding through
/// each node's RabbitMQ queue, local delivery through this node's hub.
///
/// A publish costs one Redis round trip (the publish script stamps, stores and routes the
/// whole batch) plus one confirmed broker message per other node involved; events for
/// clients on this node never touch the broker.
public struct ClusterRelay: PublishingBackend {
    let local: LocalNode
    var hub: Hub<SSEStream> { local.hub }
    var nodeID: String { local.nodeID }
    let store: RedisEventStore
    let registry: RedisRegistry
    let forwarder: any EventForwarder
    let admin: ClusterAdmin
    let health: @Sendable () -> [String: Bool]

    init(
        local: LocalNode, store: RedisEventStore, registry: RedisRegistry, forwarder: any EventForwarder, admin: ClusterAdmin,
        health: @escaping @Sendable () -> [String: Bool]
    ) {
        self.local = local
        self.admin = admin
        self.store = store
        self.registry = registry
        self.forwarder = forwarder
        self.health = health
    }

    public func publish(_ publications: [Publication], on eventLoop: any EventLoop) -> EventLoopFuture<[DeliveryReport]> {
        let promise = eventLoop.makePromise(of: [DeliveryReport].self)
        promise.completeWithTask { try await publish(publications) }
        return promise.futureResult
    }

    func publish(_ publications: [Publication]) async throws -> [DeliveryReport] {
        let bodies = publications.map { SSEEncoder.body($0.event) }
        let stamps: [RedisEventStore.Stamp]
        do {
            stamps = try await store.stamp(zip(publications, bodies).map { ($0.target, $1) })
        } catch {
            throw APIError(status: 503, code: "registry_unavailable", message: "Redis is unreachable, so the event got no id and was not sent; retry later (\(error))")
        }
        let events = zip(publications, zip(stamps, bodies)).map { publication, stamped in
            ForwardedEvent(target: publication.target, id: stamped.0.id, frame: SSEEncoder.frame(id: stamped.0.id, body: stamped.1))
        }
        let delivered = hub.deliver(events)

        // One message per other node, carrying every event of the batch for it, in order.
        var perNode: [String: [Int]] = [:]
        for (index, stamp) in stamps.enumerated() {
            for node in stamp.nodes { perNode[node, default: []].append(index) }
        }
        let metrics = hub.metrics
        let forwarder = self.forwarder
        @Sendable func forward(_ indices: [Int], to node: String) async -> ForwardOutcome {
            // The round trip to the broker: publish until its confirm.
            let started = ContinuousClock.now
            let outcome = await forwarder.forward(indices.map { events[$0] }, to: node)
            switch outcome {
            case .confirmed, .noRoute:
                metrics.amqpRoundTrip.recordNanoseconds(started.duration(to: .now).nanoseconds)
                if outcome == .confirmed { metrics.forwarded.increment(by: Int64(indices.count)) }
            case .unconfirmed, .unavailable:
                metrics.amqpErrors.increment()
            }
            return outcome
        }
        var outcomes: [String: ForwardOutcome] = [:]
        if perNode.count == 1, let (node, indices) = perNode.first {
            // The usual case (a client on one other node): no child task to create and join.
            outcomes[node] = await forward(indices, to: node)
        } else if !perNode.isEmpty {
            outcomes = await withTaskGroup(of: (String, ForwardOutcome).self) { group in
                for (node, indices) in perNode {
                    group.addTask { (node, await forward(indices, to: node)) }
                }
                var outcomes: [String: ForwardOutcome] = [:]
                for await (node, outcome) in group { outcomes[node] = outcome }
                return outcomes
            }
        }
        let stored = store.configuration.historySize > 0
        return stamps.enumerated().map { index, stamp in
            DeliveryReport(
                id: stamp.id, target: publications[index].target, node: nodeID, delivered: delivered[index],
                forwarded: stamp.nodes.sorted().map { DeliveryReport.Forwarding(node: $0, outcome: outcomes[$0] ?? .unavailable("not sent")) },
                stored: stored
            )
        }
    }

    public func connections(of client: ClientID, scope: AdminScope, timeout: Duration, on eventLoop: any EventLoop) -> EventLoopFuture<ClientReport> {
        ask(.connections, client: client, scope: scope, timeout: timeout, on: eventLoop)
    }

    public func kick(_ client: ClientID, scope: AdminScope, timeout: Duration, on eventLoop: any EventLoop) -> EventLoopFuture<ClientReport> {
        ask(.kick, client: client, scope: scope, timeout: timeout, on: eventLoop)
    }

    private func ask(
        _ action: ControlRequest.Action, client: ClientID, scope: AdminScope, timeout: Duration, on eventLoop: any EventLoop
    ) -> EventLoopFuture<ClientReport> {
        let (local, admin) = (self.local, self.admin)
        return eventLoop.makeFutureWithTask {
            guard scope == .cluster else { return await local.report(action, client: client) }
            do {
                return try await admin.ask(action, client: client, timeout: timeout)
            } catch {
                throw Self.registryUnavailable(error)
            }
        }
    }

    /// The registry's nodes, this one with its live count (the registry's is as of the last
    /// heartbeat). A draining node has left the registry, so it is not listed.
    public func nodes(on eventLoop: any EventLoop) -> EventLoopFuture<[NodeInfo]> {
        let (local, admin, started) = (self.local, self.admin, registry.started)
        return eventLoop.makeFutureWithTask {
            do {
                return try await admin.nodes().map { node in
                    node.id == local.nodeID && node.started == started ? local.info(started: started) : node
                }
            } catch {
                throw Self.registryUnavailable(error)
            }
        }
    }

    public func drain(start: Bool, on eventLoop: any EventLoop) -> EventLoopFuture<DrainStatus> {
        let local = self.local
        return eventLoop.makeFutureWithTask { await local.drain.status(nodeID: local.nodeID, start: start) }
    }

    private static func registryUnavailable(_ error: any Error) -> APIError {
        APIError(status: 503, code: "registry_unavailable", message: "Redis is unreachable, so the cluster's nodes and routes cannot be read; retry later, or use scope=node (\(error))")
    }

    public func status(on eventLoop: any EventLoop) -> EventLoopFuture<NodeStatus> {
        eventLoop.makeSucceededFuture(local.status(mode: "cluster", backends: health()))
    }

    /// Events other nodes forwarded here: straight to the local subscribers.
    static func receive(_ events: [ForwardedEvent], into hub: Hub<SSEStream>) {
        hub.metrics.received.increment(by: Int64(events.count))
        _ = hub.deliver(events)
    }
}
