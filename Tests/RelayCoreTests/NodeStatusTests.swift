import Testing

@testable import RelayCore

@Suite struct NodeStatusTests {
    private func status(backends: [String: Bool] = [:], draining: Bool = false) -> NodeStatus {
        let statistics = HubStatistics(connections: 0, clients: 0, topics: 0, historyEvents: 0, historyBytes: 0, lastEventID: EventID(epoch: 1, sequence: 0))
        return NodeStatus(node: "n", mode: "cluster", version: "0", uptimeSeconds: 0, statistics: statistics, backends: backends, draining: draining)
    }

    @Test func readyWhenNotDrainingAndEveryBackendIsUp() {
        #expect(status().notReadyReasons.isEmpty)
        #expect(status(backends: ["redis": true, "amqp": true]).notReadyReasons.isEmpty)
    }

    @Test func reasonsNameTheDrainAndEachBackendDownInAStableOrder() {
        #expect(status(backends: ["redis": false, "amqp": false], draining: true).notReadyReasons == ["draining", "amqp down", "redis down"])
        #expect(status(backends: ["redis": false, "amqp": true]).notReadyReasons == ["redis down"])
    }
}
