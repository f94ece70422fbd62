import Synchronization

/// What the publish side refused or dropped since start, for status answers and metrics
/// (`sse_relay_publish_events_rate_limited_total`, `sse_relay_publishers_refused_total`).
public final class PublishCounters: Sendable {
    /// Events not delivered because their client id was over `events.rate-limit-per-client`.
    private let rateLimited = Atomic<Int>(0)
    /// Publisher connections refused by `publish.allowed-uids` / `publish.allowed-gids`.
    private let refused = Atomic<Int>(0)

    private let metrics: RelayMetrics

    public init(metrics: RelayMetrics = RelayMetrics()) {
        self.metrics = metrics
    }

    public func recordRateLimited(_ count: Int = 1) {
        rateLimited.wrappingAdd(count, ordering: .relaxed)
        metrics.publishEventsRateLimited.increment(by: Int64(count))
    }

    public func recordRefusedPublisher() {
        refused.wrappingAdd(1, ordering: .relaxed)
        metrics.publishersRefused.increment()
    }

    public var eventsRateLimited: Int { rateLimited.load(ordering: .relaxed) }
    public var publishersRefused: Int { refused.load(ordering: .relaxed) }
}
