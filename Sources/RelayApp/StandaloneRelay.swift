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

    public init(hub: Hub<SSEStream>, nodeID: String, counters: StreamCounters, drain: DrainSwitch = DrainSwitch()) {
        self.local = LocalNode(hub: hub, nodeID: nodeID, counters: counters, drain: drain)
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

    public func connections(of client: ClientID, on eventLoop: any EventLoop) -> EventLoopFuture<[ConnectionInfo]> {
        eventLoop.makeSucceededFuture(local.connections(of: client))
    }

    public func kick(_ client: ClientID, on eventLoop: any EventLoop) -> EventLoopFuture<Int> {
        eventLoop.makeSucceededFuture(local.kick(client))
    }

    public func status(on eventLoop: any EventLoop) -> EventLoopFuture<NodeStatus> {
        eventLoop.makeSucceededFuture(local.status(mode: "standalone"))
    }
}
