import Synchronization

/// Whether this node has started draining, on SIGTERM or on `sse-relay drain`.
///
/// Draining is one-way for the life of the process: once engaged, readiness reports false
/// so load balancers stop sending browsers here, new streams are refused, and the streams
/// already open are closed gently over the drain period so browsers reconnect elsewhere.
public final class DrainSwitch: Sendable {
    private let engaged = Atomic<Bool>(false)

    public init() {}

    public var isDraining: Bool {
        engaged.load(ordering: .acquiring)
    }

    /// Returns `true` for the call that started the drain, `false` if it was already on, so
    /// that exactly one caller runs the drain.
    @discardableResult
    public func engage() -> Bool {
        engaged.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    }
}
