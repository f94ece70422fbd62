import CoreMetrics
import Prometheus
import RelayCore
import Synchronization

/// The Prometheus side of ``RelayMetrics``: one registry per process, histogram buckets that
/// fit each unit, and the gauges that mirror state, refreshed on every scrape.
struct MetricsExporter: Sendable {
    let metrics: RelayMetrics
    let registry: PrometheusCollectorRegistry
    /// The node's state now (connections, backends, draining).
    let status: @Sendable () -> NodeStatus

    /// Without the metrics port nothing would read the metrics: they are no-ops then.
    static func make(nodeID: String, enabled: Bool, cluster: Bool) -> (RelayMetrics, PrometheusCollectorRegistry) {
        let registry = PrometheusCollectorRegistry()
        guard enabled else { return (RelayMetrics(node: nodeID), registry) }
        var factory = PrometheusMetricsFactory(registry: registry)
        // Latencies inside one host are sub-millisecond: the default buckets start at 5 ms.
        let fine: [Duration] = [
            .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1),
            .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5),
        ]
        factory.durationHistogramBuckets[RelayMetrics.publishToWriteName] = fine
        factory.durationHistogramBuckets["sse_relay_redis_round_trip_seconds"] = fine
        factory.durationHistogramBuckets["sse_relay_amqp_round_trip_seconds"] = fine
        factory.valueHistogramBuckets[RelayMetrics.streamBufferBytesName] = [
            0, 1024, 4096, 16384, 65536, 131_072, 262_144, 524_288, 1_048_576, 4_194_304,
        ]
        return (RelayMetrics(factory: factory, node: nodeID, cluster: cluster), registry)
    }

    /// The exposition, with state gauges set from the node's current state first.
    func scrape() -> [UInt8] {
        let status = self.status()
        metrics.connectionsOpen.record(status.statistics.connections)
        metrics.clients.record(status.statistics.clients)
        metrics.topics.record(status.statistics.topics)
        if let up = status.backends["redis"] { metrics.redisUp.record(up ? 1 : 0) }
        if let up = status.backends["amqp"] { metrics.amqpUp.record(up ? 1 : 0) }
        return registry.emitToBuffer()
    }
}

/// Counts reconnections of a link that is only observable as "up now or not" (the AMQP
/// workers): polled once a second by the status sampler, so a flap shorter than that is
/// missed. Redis counts its own reconnects exactly.
final class ReconnectWatch: Sendable {
    private let everUp = Mutex<(ever: Bool, up: Bool)>((false, false))
    private let counter: CoreMetrics.Counter

    init(counter: CoreMetrics.Counter) {
        self.counter = counter
    }

    func observe(up: Bool) {
        let reconnected = everUp.withLock { state in
            defer { state.up = up; state.ever = state.ever || up }
            return up && !state.up && state.ever
        }
        if reconnected { counter.increment() }
    }
}
