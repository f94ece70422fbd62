import NIOCore
import RelayCore
import RelayPublishing
import RelaySSE

/// The relay on one host: the registry and the history live in this process's hub.
///
/// Every answer is immediate (no backend to wait for), so futures are created completed
/// on the caller's loop. The cluster mode implements the same protocol with Redis and
/// RabbitMQ behind it.
public struct StandaloneRelay: PublishingBackend {
    let local: LocalNode
    var hub: Hub<SSEStream> { local.hub }
    var nodeID: String { local.nodeID }

    let epoch: Int64

    init(hub: Hub<SSEStream>, nodeID: String, counters: StreamCounters, drain: NodeDrain, epoch: Int64) {
        self.local = LocalNode(hub: hub, nodeID: nodeID, counters: counters, drain: drain)
        self.epoch = epoch
    }

    public func publish(_ publications: [Publication], on eventLoop: any EventLoop) -> EventLoopFuture<[DeliveryReport]> {
        let receipts = hub.publish(publications)
        var reports: [DeliveryReport] = []
        reports.reserveCapacity(receipts.count)
        for (publication, receipt) in zip(publications, receipts) {
            reports.append(DeliveryReport(id: receipt.id, target: publication.target, node: nodeID, delivered: receipt.delivered, stored: receipt.stored))
        }
        return eventLoop.makeSucceededFuture(reports)
    }

    public func connections(of client: ClientID, scope: AdminScope, timeout: Duration, on eventLoop: any EventLoop) -> EventLoopFuture<ClientReport> {
        let local = self.local
        return eventLoop.makeFutureWithTask { await local.report(.connections, client: client) }
    }

    public func kick(_ client: ClientID, scope: AdminScope, timeout: Duration, on eventLoop: any EventLoop) -> EventLoopFuture<ClientReport> {
        let local = self.local
        return eventLoop.makeFutureWithTask { await local.report(.kick, client: client) }
    }

    public func nodes(on eventLoop: any EventLoop) -> EventLoopFuture<[NodeInfo]> {
        eventLoop.makeSucceededFuture([local.info(started: epoch)])
    }

    public func drain(start: Bool, on eventLoop: any EventLoop) -> EventLoopFuture<DrainStatus> {
        let local = self.local
        return eventLoop.makeFutureWithTask { await local.drain.status(nodeID: local.nodeID, start: start) }
    }

    public func status(on eventLoop: any EventLoop) -> EventLoopFuture<NodeStatus> {
        eventLoop.makeSucceededFuture(local.status(mode: "standalone"))
    }
}
