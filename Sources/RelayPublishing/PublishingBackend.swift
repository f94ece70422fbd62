import NIOCore
import RelayCore

/// What the publish API needs from the relay, standalone or clustered.
///
/// Guarantees an implementation gives: reports come back in the order of the publications;
/// a report's `delivered`/`forwarded` say only what actually happened (queued to a local
/// connection; confirmed by the broker), never what was merely attempted. Admin answers
/// come back within their timeout and name every node asked (see ``ClusterAdmin``).
public protocol PublishingBackend: Sendable {
    /// Sends validated publications to their subscribers.
    func publish(_ publications: [Publication], on eventLoop: any EventLoop) -> EventLoopFuture<[DeliveryReport]>
    /// Every open stream of `client`: on every node that holds it, or on this one.
    func connections(of client: ClientID, scope: AdminScope, timeout: Duration, on eventLoop: any EventLoop) -> EventLoopFuture<ClientReport>
    /// Closes every stream of `client` (reason `kicked`); answers what each node closed.
    func kick(_ client: ClientID, scope: AdminScope, timeout: Duration, on eventLoop: any EventLoop) -> EventLoopFuture<ClientReport>
    /// The live nodes (standalone: this one).
    func nodes(on eventLoop: any EventLoop) -> EventLoopFuture<[NodeInfo]>
    /// Starts draining this node (`start`), or only reports where the drain stands.
    func drain(start: Bool, on eventLoop: any EventLoop) -> EventLoopFuture<DrainStatus>
    func status(on eventLoop: any EventLoop) -> EventLoopFuture<NodeStatus>
}

/// How far an admin request about a client reaches.
public enum AdminScope: String, Sendable {
    /// Every node that holds the client (the default).
    case cluster
    /// This node only.
    case node
}
