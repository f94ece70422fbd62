import Synchronization

/// What the publish side refused or dropped since start, for status answers and metrics
/// (`sse_relay_publish_events_rate_limited_total`, `sse_relay_publishers_refused_total`).
public final class PublishCounters: Sendable {
    /// Events not delivered because their client id was over `events.rate-limit-per-client`.
    private let rateLimited = Atomic<Int>(0)
    /// Publisher connections refused by `publish.allowed-uids` / `publish.allowed-gids`.
    private let refused = Atomic<Int>(0)

    /// A publisher retrying in a loop must not flood the journal: every refusal is counted,
    /// at most one per interval is logged, with how many were not.
    private let refusalLog: Mutex<LogThrottle>

    private let metrics: RelayMetrics

    public init(metrics: RelayMetrics = RelayMetrics(), refusalLogInterval: Duration = .seconds(10)) {
        self.metrics = metrics
        self.refusalLog = Mutex(LogThrottle(intervalNanoseconds: UInt64(clamping: refusalLogInterval.nanoseconds)))
    }

    public func recordRateLimited(_ count: Int = 1) {
        rateLimited.wrappingAdd(count, ordering: .relaxed)
        metrics.publishEventsRateLimited.increment(by: Int64(count))
    }

    /// Counts a refused publisher request; returns whether to log it, and how many
    /// refusals since the last logged one were not.
    ///
    /// - Parameter now: monotonic nanoseconds.
    public func recordRefusedPublisher(now: UInt64) -> (log: Bool, notLogged: Int) {
        refused.wrappingAdd(1, ordering: .relaxed)
        metrics.publishersRefused.increment()
        let (log, suppressed) = refusalLog.withLock { $0.record(now: now) }
        return (log, suppressed)
    }

    public var eventsRateLimited: Int { rateLimited.load(ordering: .relaxed) }
    public var publishersRefused: Int { refused.load(ordering: .relaxed) }
}
