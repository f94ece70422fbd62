import Foundation
import RelayCore
import ServiceLifecycle
import Synchronization

/// Reads the node's state once a second and keeps the last few minutes, so the status page
/// can draw rates and trends without a time-series database. The page's stream sends the
/// latest snapshot; nothing is computed per viewer.
final class StatusSampler: Service, Sendable {
    /// One reading of the node.
    struct Reading: Sendable {
        var status: NodeStatus
        var totals: (connects: Int, published: Int, delivered: Int)
        /// Cluster mode: every node in the registry; standalone: this node alone.
        var nodes: [NodeSummary]
    }

    struct NodeSummary: Sendable, Codable, Equatable {
        var id: String
        var address: String
        var connections: Int
        var version: String
    }

    private struct Point: Sendable {
        var time: Double
        var connections: Int
        var totals: (connects: Int, published: Int, delivered: Int)
        var closes: [CloseReason: Int]
    }

    private struct State: Sendable {
        var points: [Point] = []
        var sequence: UInt64 = 0
        var latest: String?
    }

    let interval: Duration
    /// How many points are kept (5 minutes at one a second).
    let capacity: Int
    private let read: @Sendable () async -> Reading
    private let state = Mutex(State())

    init(interval: Duration = .seconds(1), capacity: Int = 300, read: @escaping @Sendable () async -> Reading) {
        self.interval = interval
        self.capacity = capacity
        self.read = read
    }

    /// The newest snapshot as JSON with its sequence number, or `nil` before the first.
    var latest: (UInt64, String)? {
        state.withLock { state in state.latest.map { (state.sequence, $0) } }
    }

    func run() async throws {
        // Keeps sampling while the node drains (it is stopped after the listeners), so the
        // page shows the drain.
        while !Task.isCancelled {
            await sample()
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
            if Task.isShuttingDownGracefully { return }
        }
    }

    func sample() async {
        let reading = await read()
        let point = Point(
            time: Date().timeIntervalSince1970, connections: reading.status.statistics.connections,
            totals: reading.totals, closes: reading.status.closes
        )
        state.withLock { state in
            state.points.append(point)
            if state.points.count > capacity { state.points.removeFirst(state.points.count - capacity) }
            state.sequence += 1
            state.latest = Self.snapshot(reading, points: state.points)
        }
    }

    /// What the status page reads (see StatusPage.swift).
    struct Snapshot: Codable {
        struct Series: Codable {
            var time: [Double] = []
            var connections: [Int] = []
            var publishedPerSecond: [Double] = []
            var deliveredPerSecond: [Double] = []
            var connectsPerSecond: [Double] = []
        }
        var node: String
        var mode: String
        var version: String
        var uptimeSeconds: Int
        var ready: Bool
        var notReady: [String]
        var draining: Bool
        var backends: [String: Bool]
        var connections: Int
        var clients: Int
        var topics: Int
        var lastEventId: String
        var totals: [String: Int]
        var closes: [String: Int]
        /// Streams closed within the kept window, by reason.
        var recentCloses: [String: Int]
        var nodes: [NodeSummary]
        var series: Series
    }

    private static func snapshot(_ reading: Reading, points: [Point]) -> String {
        let status = reading.status
        var series = Snapshot.Series()
        for (previous, point) in zip(points, points.dropFirst()) {
            let seconds = max(point.time - previous.time, 0.001)
            series.time.append((point.time * 1000).rounded() / 1000)
            series.connections.append(point.connections)
            series.publishedPerSecond.append(Double(point.totals.published - previous.totals.published) / seconds)
            series.deliveredPerSecond.append(Double(point.totals.delivered - previous.totals.delivered) / seconds)
            series.connectsPerSecond.append(Double(point.totals.connects - previous.totals.connects) / seconds)
        }
        var recent: [String: Int] = [:]
        if let first = points.first, let last = points.last {
            for reason in CloseReason.allCases {
                recent[reason.rawValue] = (last.closes[reason] ?? 0) - (first.closes[reason] ?? 0)
            }
        }
        let snapshot = Snapshot(
            node: status.node, mode: status.mode, version: status.version, uptimeSeconds: status.uptimeSeconds,
            ready: status.notReadyReasons.isEmpty, notReady: status.notReadyReasons, draining: status.draining,
            backends: status.backends, connections: status.statistics.connections, clients: status.statistics.clients,
            topics: status.statistics.topics, lastEventId: status.statistics.lastEventID.description,
            totals: ["connects": reading.totals.connects, "published": reading.totals.published, "delivered": reading.totals.delivered],
            closes: Dictionary(uniqueKeysWithValues: status.closes.map { ($0.key.rawValue, $0.value) }),
            recentCloses: recent, nodes: reading.nodes, series: series
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(snapshot) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}
