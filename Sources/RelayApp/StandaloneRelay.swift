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
    public let hub: Hub<SSEStream>
    public let nodeID: String
    public let counters: StreamCounters
    public let startedAt: ContinuousClock.Instant

    public init(hub: Hub<SSEStream>, nodeID: String, counters: StreamCounters) {
        self.hub = hub
        self.nodeID = nodeID
        self.counters = counters
        self.startedAt = .now
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
        eventLoop.makeSucceededFuture(hub.subscribers(of: client).map(\.info).sorted { $0.sinceMilliseconds < $1.sinceMilliseconds })
    }

    public func kick(_ client: ClientID, on eventLoop: any EventLoop) -> EventLoopFuture<Int> {
        let streams = hub.subscribers(of: client)
        for stream in streams {
            stream.close(reason: .kicked)
        }
        return eventLoop.makeSucceededFuture(streams.count)
    }

    public func status(on eventLoop: any EventLoop) -> EventLoopFuture<NodeStatus> {
        let uptime = startedAt.duration(to: .now).components.seconds
        return eventLoop.makeSucceededFuture(
            NodeStatus(
                node: nodeID, mode: "standalone", version: RelayVersion.current, uptimeSeconds: Int(uptime),
                statistics: hub.statistics, closes: counters.closes
            )
        )
    }
}

public enum RelayVersion {
    public static let current = "0.1.0"
}
