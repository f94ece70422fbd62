/// Everything the benchmark measured, in the shape written by `--json`.
struct BenchFigures: Codable, Sendable {
    var target: String
    var url: String
    var connections: Int
    var threads: Int
    var payloadBytes: Int
    var pipeline: Int
    var bulkPipeline: Int
    var batch: Int
    var publishers: Int
    var openFileLimit: Int
    var connect: ConnectFigures?
    var topicConnect: ConnectFigures?
    var scenarios: [ScenarioFigures] = []
    var churn: ChurnFigures?
}

struct ConnectFigures: Codable, Sendable {
    var topic: String?
    var requested: Int
    var established: Int
    var failures: Int
    var failureReasons: [String: Int]
    var seconds: Double
    var connectsPerSecond: Double
    var serverRSSBeforeKiB: Int?
    var serverRSSAfterKiB: Int?
    var serverRSSPerConnectionKiB: Double?
    var benchCPUPercent: Double
    var serverCPUPercent: Double?
}

struct LatencyFigures: Codable, Sendable {
    var samples: Int
    var p50Ms: Double
    var p90Ms: Double
    var p99Ms: Double
    var p999Ms: Double
    var maxMs: Double
    var meanMs: Double
    /// [quantile, ms] pairs for a distribution plot.
    var quantilesMs: [[Double]]

    private static let plotted: [Double] = (1...99).map { Double($0) / 100 }
        + [0.995, 0.999, 0.9995, 0.9999, 1]

    init(_ histogram: LatencyHistogram) {
        func ms(_ ns: UInt64) -> Double { Double(ns) / 1e6 }
        samples = histogram.total
        p50Ms = ms(histogram.quantile(0.50))
        p90Ms = ms(histogram.quantile(0.90))
        p99Ms = ms(histogram.quantile(0.99))
        p999Ms = ms(histogram.quantile(0.999))
        maxMs = ms(histogram.maxValue)
        meanMs = histogram.mean / 1e6
        quantilesMs = histogram.total == 0 ? [] : Self.plotted.map { [$0, ms(histogram.quantile($0))] }
    }
}

struct ScenarioFigures: Codable, Sendable {
    var name: String
    var description: String
    var publishSeconds: Double
    var requests: Int
    var published: Int
    var publishedPerSecond: Double
    var requestsPerSecond: Double
    var accepted: Int
    var notConnected: Int
    var rejected: Int
    /// Sum of the relay's reported `delivered` counts.
    var reportedDelivered: Int
    var statusCounts: [String: Int]
    /// Paced modes only: most events held back at once because the pipeline was full.
    var maxBacklog: Int
    /// Deliveries the relay owed: accepted events, times the subscribers for a topic.
    var expected: Int
    var received: Int
    var lost: Int
    /// Received beyond what was expected (duplicates, or events from elsewhere).
    var extra: Int
    var untimed: Int
    var deliverySeconds: Double
    var deliveredPerSecond: Double
    var latency: LatencyFigures
    var settled: Bool
    var droppedConnections: Int
    var liveConnections: Int
    var benchCPUPercent: Double
    var serverCPUPercent: Double?
    var serverRSSKiB: Int?
    var errors: [String]
}

struct ChurnFigures: Codable, Sendable {
    var seconds: Double
    var workers: Int
    /// Disconnect + connect pairs completed.
    var cycles: Int
    var cyclesPerSecond: Double
    var failures: Int
    var failureReasons: [String: Int]
    /// From starting a connect to its first body bytes.
    var connectLatency: LatencyFigures
    var benchCPUPercent: Double
    var serverCPUPercent: Double?
    var serverRSSKiB: Int?
    var liveConnections: Int
}
