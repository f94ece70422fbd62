import NIOCore

/// One open stream on this node, as the hub sees it.
///
/// Transports implement it; the hub only needs the identity, what the stream is subscribed
/// to, and the queue that carries frames to it.
public protocol Subscriber: AnyObject, Sendable {
    var clientID: ClientID { get }
    /// Topics joined with `?topic=`, without duplicates.
    var topics: [TopicName] { get }
    /// The queue this subscriber is drained from (one per event loop). The hub hands a
    /// queue all frames of one publish call at once, so a transport can write them in one
    /// hop and flush each connection once.
    var queue: DeliveryQueue<Self> { get }
}

/// One frame for one subscriber.
public struct Delivery<S: Subscriber>: Sendable {
    public var subscriber: S
    public var frame: ByteBuffer
    /// The frame's id sequence, so a stream catching up can drop a live event it already
    /// got from its replay.
    public var sequence: UInt64
}

/// Carries frames from the hub to subscribers that share an execution context.
///
/// Guarantee: batches are passed to `enqueue` in the order the hub assigned their ids, and
/// `enqueue` runs under the hub's lock, so a transport that only appends to a FIFO (such as
/// `EventLoop.execute`) delivers every stream's events in id order.
public final class DeliveryQueue<S: Subscriber>: Sendable {
    private let enqueue: @Sendable ([Delivery<S>]) -> Void

    /// - Parameter enqueue: must only hand the batch over (never block, never call back into
    ///   the hub): it runs under the hub's lock.
    public init(_ enqueue: @escaping @Sendable ([Delivery<S>]) -> Void) {
        self.enqueue = enqueue
    }

    func deliver(_ batch: [Delivery<S>]) {
        enqueue(batch)
    }
}
