import Testing

@testable import RelayAMQP

@Suite struct AMQPConfigurationTests {
    @Test func defaults() throws {
        let configuration = AMQPConfiguration(urls: ["amqp://h"], nodeID: "node-a")
        #expect(configuration.exchange == "sse-relay")
        #expect(configuration.queuePrefix == "sse-relay.node.")
        #expect(configuration.queueExpires == .seconds(600))
        #expect(configuration.messageTTL == .seconds(60))
        #expect(configuration.prefetch == 32)
        #expect(configuration.heartbeat == .seconds(10))
        #expect(configuration.confirmTimeout == .seconds(5))
        #expect(configuration.reconnectDelay == .milliseconds(100))
        #expect(configuration.maxReconnectDelay == .seconds(5))
        try configuration.validate()

        let topology = AMQPTopology(configuration)
        #expect(topology.queue(for: "node-a") == "sse-relay.node.node-a")
        #expect(topology.routingKey(for: "node-a") == "node.node-a")
    }

    @Test func passwordOverrideAppliesToEveryURL() throws {
        let configuration = AMQPConfiguration(urls: ["amqp://a:x@h1", "amqp://b@h2"], nodeID: "n", password: "from-file")
        #expect(try configuration.brokerURLs().map(\.password) == ["from-file", "from-file"])
        #expect(try configuration.brokerURLs().map(\.user) == ["a", "b"])
    }

    @Test func rejectsBadValues() {
        func rejected(_ change: (inout AMQPConfiguration) -> Void) -> Bool {
            var configuration = AMQPConfiguration(urls: ["amqp://h"], nodeID: "n")
            change(&configuration)
            do {
                try configuration.validate()
                return false
            } catch {
                return error.code == .invalidConfiguration || error.code == .invalidURL
            }
        }
        #expect(rejected { $0.urls = [] })
        #expect(rejected { $0.urls = ["amqp://h", "nonsense"] })
        #expect(rejected { $0.nodeID = "" })
        #expect(rejected { $0.nodeID = String(repeating: "x", count: 250) })
        #expect(rejected { $0.exchange = "amq.direct" })
        #expect(rejected { $0.prefetch = 0 })
        #expect(rejected { $0.prefetch = 70_000 })
        #expect(rejected { $0.heartbeat = .milliseconds(1500) })
        #expect(rejected { $0.queueExpires = .zero })
        #expect(rejected { $0.confirmTimeout = .zero })
        #expect(rejected { $0.maxReconnectDelay = .milliseconds(10) })
    }

    @Test func backoffDoublesUpToTheMaximumAndResets() {
        var backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(5))
        let delays = (0..<9).map { _ in backoff.next() }
        #expect(delays == [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000].map { Duration.milliseconds($0) })
        backoff.reset()
        #expect(backoff.next() == .milliseconds(100))
    }
}
