import RelayCore
import RelaySSE

/// What a node answers about its own streams, in either mode: where a client is connected
/// here, closing its streams, draining, and the node's status.
struct LocalNode: Sendable {
    let hub: Hub<SSEStream>
    let nodeID: String
    let counters: StreamCounters
    let drain: NodeDrain
    let startedAt: ContinuousClock.Instant = .now

    /// The client's streams here, oldest first, with their current last event ids.
    func connections(of client: ClientID) async -> [ConnectionInfo] {
        var infos: [ConnectionInfo] = []
        for stream in hub.subscribers(of: client) {
            infos.append(await stream.describe())
        }
        return infos.sorted { $0.sinceMilliseconds < $1.sinceMilliseconds }
    }

    /// Closes every local stream of `client` (browsers reconnect and resume); returns what
    /// was closed.
    func kick(_ client: ClientID) async -> [ConnectionInfo] {
        let closed = await connections(of: client)
        for stream in hub.subscribers(of: client) { stream.close(reason: .kicked) }
        return closed
    }

    /// Answers an admin request, from this node's publish socket or another node.
    func answer(_ action: ControlRequest.Action, client: ClientID) async -> [ConnectionInfo] {
        switch action {
        case .connections: await connections(of: client)
        case .kick: await kick(client)
        }
    }

    /// The report for `scope=node`, or standalone: this node alone.
    func report(_ action: ControlRequest.Action, client: ClientID) async -> ClientReport {
        ClientReport(client: client, nodes: [NodeAnswer(node: nodeID, outcome: .answered(await answer(action, client: client)))])
    }

    /// This node as `sse-relay nodes` lists it, with its live connection count.
    func info(started: Int64) -> NodeInfo {
        NodeInfo(
            id: nodeID, address: drain.advertisedAddress, started: started, version: RelayVersion.current,
            connections: hub.statistics.connections, draining: drain.isDraining
        )
    }

    func status(mode: String, backends: [String: Bool] = [:]) -> NodeStatus {
        NodeStatus(
            node: nodeID, mode: mode, version: RelayVersion.current,
            uptimeSeconds: Int(startedAt.duration(to: .now).components.seconds),
            statistics: hub.statistics, backends: backends, closes: counters.closes, draining: drain.isDraining
        )
    }
}

public enum RelayVersion {
    public static let current = "0.1.0"
}
