import Foundation
import Logging
import NIOCore
import RelayCore
import Synchronization
import Testing

@testable import RelayAMQP

/// The broker the integration suites talk to: `SSE_RELAY_TEST_AMQP_URL`, set by Tests/run
/// after it started one with Tests/servers/rabbitmq.sh.
enum TestBroker {
    static let url: String? = ProcessInfo.processInfo.environment["SSE_RELAY_TEST_AMQP_URL"].flatMap { $0.isEmpty ? nil : $0 }

    static let disabledReason: Comment =
        "SSE_RELAY_TEST_AMQP_URL is not set (Tests/run sets it; or start a broker with Tests/servers/rabbitmq.sh start PORT DIR)"

    /// The restart suite runs a broker of its own: that needs root (see TESTING-NOTES) and the
    /// server package, and is gated on the shared broker's variable too, so that a plain
    /// `swift test` stays broker-free.
    static let canRunPrivateBroker =
        url != nil && getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/lib/rabbitmq/bin/rabbitmq-server")

    static let privateBrokerDisabledReason: Comment =
        "needs SSE_RELAY_TEST_AMQP_URL, root and /usr/lib/rabbitmq/bin/rabbitmq-server to run a private broker"

    /// A URL nothing listens on: port 1 on loopback refuses at once.
    static let unreachableURL = "amqp://guest:guest@127.0.0.1:1/"

    /// Names unique per test, so parallel tests and earlier runs never share a queue.
    static func unique(_ prefix: String) -> String {
        "\(prefix)-\(UInt32.random(in: .min ... .max))"
    }

    /// Fast reconnects and short timeouts: tests wait for recoveries, not for production pacing.
    static func configuration(urls: [String]? = nil, node: String, exchange: String) -> AMQPConfiguration {
        var configuration = AMQPConfiguration(
            urls: urls ?? [url ?? unreachableURL], nodeID: node, exchange: exchange, queuePrefix: "sse-relay-test.node.")
        configuration.queueExpires = .seconds(60)
        configuration.heartbeat = .seconds(2)
        configuration.connectTimeout = .seconds(2)
        configuration.reconnectDelay = .milliseconds(50)
        configuration.maxReconnectDelay = .milliseconds(500)
        return configuration
    }

    static func logger(_ label: String, level: Logger.Level = .notice) -> Logger {
        var logger = Logger(label: "RelayAMQPTests.\(label)")
        logger.logLevel = level
        return logger
    }

    static func event(client: String = "client-1", sequence: UInt64, data: String, name: String? = nil) -> ForwardedEvent {
        let id = EventID(epoch: 1_764_156_000_000, sequence: sequence)
        return ForwardedEvent(
            target: .client(ClientID(client)!), id: id, frame: SSEEncoder.frame(Event(name: name, data: data), id: id))
    }

    static func topicEvent(_ topic: String, sequence: UInt64, data: String) -> ForwardedEvent {
        let id = EventID(epoch: 1_764_156_000_000, sequence: sequence)
        return ForwardedEvent(target: .topic(TopicName(topic)!), id: id, frame: SSEEncoder.frame(Event(data: data), id: id))
    }
}

/// What a consumer's handler received, batch by batch.
final class Received: Sendable {
    private let batches = Mutex<[[ForwardedEvent]]>([])

    func append(_ batch: [ForwardedEvent]) {
        batches.withLock { $0.append(batch) }
    }

    var allBatches: [[ForwardedEvent]] { batches.withLock { $0 } }
    var events: [ForwardedEvent] { allBatches.flatMap { $0 } }
}

/// Polls `condition` until it holds or `timeout` passes; the sleep paces the polling and is
/// never what a test relies on.
func eventually(within timeout: Duration = .seconds(10), _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while !(await condition()) {
        guard ContinuousClock.now < deadline else { return false }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return true
}

/// A running consumer for one node, shut down by `stop()`.
struct RunningConsumer {
    let consumer: AMQPConsumer
    let task: Task<Void, Never>
    let received: Received

    static func start(
        _ configuration: AMQPConfiguration, handler: (@Sendable ([ForwardedEvent]) async -> Void)? = nil
    ) throws -> RunningConsumer {
        let received = Received()
        let consumer = try AMQPConsumer(configuration: configuration, logger: TestBroker.logger("consumer")) { batch in
            received.append(batch)
            await handler?(batch)
        }
        let task = Task { await consumer.run() }
        return RunningConsumer(consumer: consumer, task: task, received: received)
    }

    func stop() async {
        consumer.shutdown()
        await task.value
    }
}
