import CoreMetrics
import Synchronization

/// Every metric the relay exports, created once through one swift-metrics factory and
/// handed to the parts that count.
///
/// Adding a metric is one line here (and one row in README "Metrics"). Names are
/// snake_case with their unit, prefixed `sse_relay_`. The hot path stays cheap: the hub
/// counts deliveries once per publish call, the stream loops time a whole drain at once, and
/// gauges that mirror state (connections, backend up) are set when scraped, not on every
/// change.
///
/// Without a factory every metric is a no-op (unit tests, benchmarks of the core).
public final class RelayMetrics: Sendable {
    /// What a publish call was: one event for a client id, one for a topic, or NDJSON bulk.
    public enum PublishKind: String, Sendable, CaseIterable {
        case client, topic, bulk

        /// The kind of a single-event publish.
        public init(_ target: Target) {
            switch target {
            case .client: self = .client
            case .topic: self = .topic
            }
        }
    }

    let factory: any MetricsFactory

    // MARK: Streams
    public let connects: Counter
    private let disconnects: [CloseReason: Counter]
    private let refusals: [RefusalReason: Counter]
    public let replayed: Counter
    private let resets = Mutex<[String: Counter]>([:])
    /// Bytes held for a stream beyond what the socket took (sampled every few seconds).
    public let streamBufferBytes: Recorder
    /// From the moment the hub queued an event to the moment its frame was handed to the
    /// socket (one sample per loop drain: the oldest event of the drain).
    public let publishToWrite: Timer

    // MARK: Events
    private let published: [PublishKind: Counter]
    public let delivered: Counter
    public let forwarded: Counter
    public let received: Counter
    /// Events over `events.rate-limit-per-client` (dropped, or replaced while held back).
    public let publishEventsRateLimited: Counter
    /// Publish requests refused by `publish.allowed-uids` / `publish.allowed-gids`.
    public let publishersRefused: Counter

    // MARK: Backends
    public let redisRoundTrip: Timer
    public let redisErrors: Counter
    public let redisReconnects: Counter
    public let amqpRoundTrip: Timer
    public let amqpErrors: Counter
    public let amqpReconnects: Counter

    // MARK: Gauges set when scraped
    public let connectionsOpen: Recorder
    public let clients: Recorder
    public let topics: Recorder
    public let redisUp: Recorder
    public let amqpUp: Recorder

    /// Running totals the status page turns into rates (swift-metrics handlers cannot be
    /// read back).
    private let totals = Totals()

    /// - Parameter cluster: whether Redis and RabbitMQ are configured; without them their
    ///   metrics are not exported at all (a standalone node's `redis_up 0` would page someone).
    public init(factory: any MetricsFactory = NOOPMetricsHandler.instance, node: String = "", cluster: Bool = false) {
        self.factory = factory
        let backendFactory: any MetricsFactory = cluster ? factory : NOOPMetricsHandler.instance
        func counter(_ name: String, _ dimensions: [(String, String)] = []) -> Counter {
            Counter(label: name, dimensions: dimensions, factory: factory)
        }
        func gauge(_ name: String, _ dimensions: [(String, String)] = []) -> Recorder {
            Recorder(label: name, dimensions: dimensions, aggregate: false, factory: factory)
        }
        connects = counter("sse_relay_connects_total")
        disconnects = Dictionary(uniqueKeysWithValues: CloseReason.allCases.map { ($0, counter("sse_relay_disconnects_total", [("reason", $0.rawValue)])) })
        refusals = Dictionary(uniqueKeysWithValues: RefusalReason.allCases.map { ($0, counter("sse_relay_refusals_total", [("reason", $0.rawValue)])) })
        replayed = counter("sse_relay_events_replayed_total")
        streamBufferBytes = Recorder(label: Self.streamBufferBytesName, dimensions: [], aggregate: true, factory: factory)
        publishToWrite = Timer(label: Self.publishToWriteName, dimensions: [], factory: factory)
        published = Dictionary(uniqueKeysWithValues: PublishKind.allCases.map { ($0, counter("sse_relay_events_published_total", [("kind", $0.rawValue)])) })
        delivered = counter("sse_relay_events_delivered_total")
        forwarded = counter("sse_relay_events_forwarded_total")
        received = counter("sse_relay_events_received_total")
        publishEventsRateLimited = counter("sse_relay_publish_events_rate_limited_total")
        publishersRefused = counter("sse_relay_publishers_refused_total")
        redisRoundTrip = Timer(label: "sse_relay_redis_round_trip_seconds", dimensions: [], factory: backendFactory)
        redisErrors = Counter(label: "sse_relay_redis_errors_total", factory: backendFactory)
        redisReconnects = Counter(label: "sse_relay_redis_reconnects_total", factory: backendFactory)
        amqpRoundTrip = Timer(label: "sse_relay_amqp_round_trip_seconds", dimensions: [], factory: backendFactory)
        amqpErrors = Counter(label: "sse_relay_amqp_errors_total", factory: backendFactory)
        amqpReconnects = Counter(label: "sse_relay_amqp_reconnects_total", factory: backendFactory)
        connectionsOpen = gauge("sse_relay_connections_open", [("node", node)])
        clients = gauge("sse_relay_clients_connected")
        topics = gauge("sse_relay_topics_subscribed")
        redisUp = Recorder(label: "sse_relay_redis_up", aggregate: false, factory: backendFactory)
        amqpUp = Recorder(label: "sse_relay_amqp_up", aggregate: false, factory: backendFactory)
    }

    /// Histogram names, so the exporter can give them buckets that fit their unit.
    public static let streamBufferBytesName = "sse_relay_stream_buffer_bytes"
    public static let publishToWriteName = "sse_relay_publish_to_write_seconds"

    // MARK: Recording

    public func recordConnect() {
        connects.increment()
        totals.connects.add(1, ordering: .relaxed)
    }

    public func recordDisconnect(_ reason: CloseReason) {
        disconnects[reason]?.increment()
    }

    /// A subscribe request refused before its stream opened.
    public func recordRefusal(_ reason: RefusalReason) {
        refusals[reason]?.increment()
    }

    /// A stream opened with a reset event instead of a replay (`reason` as in the event).
    public func recordReset(reason: String) {
        let counter = resets.withLock { resets in
            if let counter = resets[reason] { return counter }
            let counter = Counter(label: "sse_relay_resets_sent_total", dimensions: [("reason", reason)], factory: factory)
            resets[reason] = counter
            return counter
        }
        counter.increment()
    }

    public func recordPublished(_ count: Int, kind: PublishKind) {
        guard count > 0 else { return }
        published[kind]?.increment(by: Int64(count))
        totals.published.add(count, ordering: .relaxed)
    }

    /// Frames queued to local streams (one call per hub call, with the sum).
    public func recordDelivered(_ count: Int) {
        guard count > 0 else { return }
        delivered.increment(by: Int64(count))
        totals.delivered.add(count, ordering: .relaxed)
    }

    /// Events since start: connects, publishes accepted, frames queued to local streams.
    public var snapshotTotals: (connects: Int, published: Int, delivered: Int) {
        (totals.connects.load(ordering: .relaxed), totals.published.load(ordering: .relaxed), totals.delivered.load(ordering: .relaxed))
    }

    private final class Totals: Sendable {
        let connects = Atomic<Int>(0)
        let published = Atomic<Int>(0)
        let delivered = Atomic<Int>(0)
    }
}
