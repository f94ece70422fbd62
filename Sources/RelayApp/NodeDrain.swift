import RelayCore
import RelaySSE

/// `sse-relay drain`: the node stops taking new streams, leaves the cluster's registry and
/// moves its browsers elsewhere gently (the SIGTERM drain), but keeps running: the publish
/// socket still works, and its publishes reach the browsers wherever they reconnected.
///
/// There is no undrain: draining is one-way for the life of the process (see
/// ``DrainSwitch``); restarting the service undoes it.
final class NodeDrain: Sendable {
    let drainSwitch: DrainSwitch
    /// Filled in once the listeners are bound (the drain needs the server, the server's
    /// publish socket needs the backend that holds this).
    let server = LateBound<SSEServer>()
    /// Cluster mode: leave the registry. Both modes: tell systemd.
    private let prepare: @Sendable () async -> Void
    /// `host:port` other tools should use for this node's subscribers (cluster: the
    /// configured advertise address; standalone: the bound one).
    private let configuredAddress: String?

    var advertisedAddress: String {
        if let configuredAddress { return configuredAddress }
        guard let address = server.value?.localAddress else { return "" }
        return "\(address.ipAddress ?? "?"):\(address.port ?? 0)"
    }

    init(drainSwitch: DrainSwitch, advertisedAddress: String?, prepare: @escaping @Sendable () async -> Void) {
        self.drainSwitch = drainSwitch
        self.configuredAddress = advertisedAddress
        self.prepare = prepare
    }

    var isDraining: Bool { drainSwitch.isDraining }

    /// Starts the drain if `start` and it is not on yet; answers where it stands.
    func status(nodeID: String, start: Bool) async -> DrainStatus {
        guard let server = server.value else {
            return DrainStatus(node: nodeID, draining: isDraining, started: false, connections: 0, periodSeconds: 0)
        }
        // The server's drain engages the switch and runs once; a concurrent SIGTERM or a
        // second command joins the same drain.
        let started = start ? server.drain(prepare: prepare).started : false
        return DrainStatus(
            node: nodeID, draining: drainSwitch.isDraining, started: started, connections: await server.openStreams,
            periodSeconds: Int(server.currentConfiguration.drainPeriod.components.seconds)
        )
    }
}
