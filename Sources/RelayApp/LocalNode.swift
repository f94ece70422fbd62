import RelayCore
import RelaySSE

/// What a node answers about its own streams, in either mode: where a client is connected
/// here, closing its streams, and the node's status.
struct LocalNode: Sendable {
    let hub: Hub<SSEStream>
    let nodeID: String
    let counters: StreamCounters
    let drain: DrainSwitch
    let startedAt: ContinuousClock.Instant = .now

    func connections(of client: ClientID) -> [ConnectionInfo] {
        hub.subscribers(of: client).map(\.info).sorted { $0.sinceMilliseconds < $1.sinceMilliseconds }
    }

    /// Closes every local stream of `client` (browsers reconnect and resume); returns how many.
    func kick(_ client: ClientID) -> Int {
        let streams = hub.subscribers(of: client)
        for stream in streams { stream.close(reason: .kicked) }
        return streams.count
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
