import NIOCore
import RelayCore

/// What the publish API needs from the relay, standalone or clustered.
///
/// Guarantees an implementation gives: reports come back in the order of the publications;
/// a report's `delivered`/`forwarded` say only what actually happened (queued to a local
/// connection; confirmed by the broker), never what was merely attempted.
public protocol PublishingBackend: Sendable {
    /// Sends validated publications to their subscribers.
    func publish(_ publications: [Publication], on eventLoop: any EventLoop) -> EventLoopFuture<[DeliveryReport]>
    /// Every open stream of `client` (on every node, once clustered).
    func connections(of client: ClientID, on eventLoop: any EventLoop) -> EventLoopFuture<[ConnectionInfo]>
    /// Closes every stream of `client`; answers how many were closed.
    func kick(_ client: ClientID, on eventLoop: any EventLoop) -> EventLoopFuture<Int>
    func status(on eventLoop: any EventLoop) -> EventLoopFuture<NodeStatus>
}
