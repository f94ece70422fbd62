import NIOCore
import Synchronization

/// The per-client-id publish rate limit shared by every publisher connection.
///
/// A lock around ``TokenBuckets``: one short critical section per client event, far below
/// the cost of encoding and fanning it out.
public final class PublishRateLimiter: Sendable {
    private let buckets = Mutex(TokenBuckets())
    public let counters: PublishCounters

    public init(counters: PublishCounters = PublishCounters()) {
        self.counters = counters
    }

    /// Whether an event for `client` may go out now; counts it when it may not.
    public func admit(_ client: ClientID, configuration: TokenBuckets.Configuration) -> Bool {
        let now = NIODeadline.now().uptimeNanoseconds
        let admitted = buckets.withLock { $0.admit(client, now: now, configuration: configuration) }
        if !admitted { counters.recordRateLimited() }
        return admitted
    }

    /// Client ids currently tracked (bounded by the configuration's capacity).
    public var trackedClients: Int { buckets.withLock { $0.count } }
}
