import NIOCore

/// What the metrics port answers with, provided by the wiring.
struct MetricsRoutes: Sendable {
    /// Prometheus text exposition, gauges refreshed first.
    let scrape: @Sendable () -> [UInt8]
    /// Why the node is not ready (empty: ready).
    let notReadyReasons: @Sendable () -> [String]
    /// The latest status snapshot as JSON, for the status page.
    let sampler: StatusSampler
    /// Every event loop, for liveness.
    let group: any EventLoopGroup
}
