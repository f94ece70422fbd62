import NIOCore
import RelayCore
import RelayPublishing
import RelayRedis
import RelaySSE
import Synchronization

/// The relay as one node of a cluster: ids, history and routes in Redis, forwarding through
/// each node's RabbitMQ queue, local delivery through this node's hub.
///
/// A publish costs one Redis round trip (the publish script stamps, stores and routes the
/// whole batch) plus one confirmed broker message per other node involved; events for
/// clients on this node never touch the broker. Round trips of calls in flight together
/// share pipelines, in both clients.
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

    /// No task in between: the stamp is queued in the Redis client's order and, when Redis
    /// answers (on its worker thread, in order), the batches are queued in the forwarder's
    /// order. So calls made one after another (a publisher's pipelined requests) get
    /// increasing ids and reach each node's queue in that order, while their round trips
    /// overlap instead of waiting for each other's broker confirms.
    public func publish(_ publications: [Publication], on eventLoop: any EventLoop) -> EventLoopFuture<[DeliveryReport]> {
        let promise = eventLoop.makePromise(of: [DeliveryReport].self)
        let bodies = publications.map { SSEEncoder.body($0.event) }
        let (hub, forwarder, nodeID, stored) = (self.hub, self.forwarder, self.nodeID, store.configuration.historySize > 0)
        store.submitStamp(zip(publications, bodies).map { ($0.target, $1) }) { result in
            let stamps: [RedisEventStore.Stamp]
            switch result {
            case .success(let value):
                stamps = value
            case .failure(let error):
                promise.fail(APIError(status: 503, code: "registry_unavailable", message: "Redis is unreachable, so the event got no id and was not sent; retry later (\(error))"))
                return
            }
            let events = zip(publications, zip(stamps, bodies)).map { publication, stamped in
                ForwardedEvent(target: publication.target, id: stamped.0.id, frame: SSEEncoder.frame(id: stamped.0.id, body: stamped.1))
            }
            let delivered = hub.deliver(events)
            @Sendable func reports(_ outcomes: [String: ForwardOutcome]) -> [DeliveryReport] {
                stamps.enumerated().map { index, stamp in
                    DeliveryReport(
                        id: stamp.id, target: publications[index].target, node: nodeID, delivered: delivered[index],
                        forwarded: stamp.nodes.sorted().map { DeliveryReport.Forwarding(node: $0, outcome: outcomes[$0] ?? .unavailable("not sent")) },
                        stored: stored
                    )
                }
            }

            // One message per other node, carrying every event of the batch for it, in order.
            var perNode: [String: [Int]] = [:]
            for (index, stamp) in stamps.enumerated() {
                for node in stamp.nodes { perNode[node, default: []].append(index) }
            }
            guard !perNode.isEmpty else {
                promise.succeed(reports([:]))
                return
            }
            let metrics = hub.metrics
            let outcomes = Mutex(ForwardOutcomes(remaining: perNode.count))
            for (node, indices) in perNode {
                // The round trip to the broker: publish until its confirm.
                let started = ContinuousClock.now
                forwarder.forward(indices.map { events[$0] }, to: node) { outcome in
                    switch outcome {
                    case .confirmed, .noRoute:
                        metrics.amqpRoundTrip.recordNanoseconds(started.duration(to: .now).nanoseconds)
                        if outcome == .confirmed { metrics.forwarded.increment(by: Int64(indices.count)) }
                    case .unconfirmed, .unavailable, .blocked:
                        metrics.amqpErrors.increment()
                    }
                    let complete = outcomes.withLock { $0.record(outcome, for: node) }
                    if let complete { promise.succeed(reports(complete)) }
                }
            }
        }
        return promise.futureResult
    }

    /// Outcomes of one publish call's batches, until the last one is in.
    private struct ForwardOutcomes: Sendable {
        var remaining: Int
        var byNode: [String: ForwardOutcome] = [:]

        /// All outcomes once this was the last one, else nil.
        mutating func record(_ outcome: ForwardOutcome, for node: String) -> [String: ForwardOutcome]? {
            byNode[node] = outcome
            remaining -= 1
            return remaining == 0 ? byNode : nil
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
