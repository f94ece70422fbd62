import Foundation
import RelayCore
import Testing

@testable import RelayAMQP

/// Stops and restarts a private broker (Tests/servers/rabbitmq.sh on a port of its own, so
/// the shared broker of the other suites stays up) and checks that forwarder and consumer
/// recover without help.
@Suite(.enabled(if: TestBroker.canRunPrivateBroker, TestBroker.privateBrokerDisabledReason), .timeLimit(.minutes(2)))
struct BrokerRestartTests {
    static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("servers/rabbitmq.sh")

    private struct PrivateBroker {
        let port = Int.random(in: 30_000...39_999)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sse-relay-amqp-restart-\(UUID().uuidString)")
        var url: String { "amqp://guest:guest@127.0.0.1:\(port)/" }

        func run(_ command: String) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = [BrokerRestartTests.script.path, command, String(port), directory.path]
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw AMQPError(.system, "rabbitmq.sh \(command) \(port) exited with \(process.terminationStatus)")
            }
        }
    }

    @Test func forwarderAndConsumerRecoverFromABrokerRestart() async throws {
        let broker = PrivateBroker()
        // Process.waitUntilExit blocks: keep it off the shared pool's threads the tests run on.
        try await Task.detached { try broker.run("start") }.value
        defer {
            try? broker.run("stop")
            try? FileManager.default.removeItem(at: broker.directory)
        }

        let exchange = TestBroker.unique("ex")
        let node = TestBroker.unique("node-r")
        var configuration = TestBroker.configuration(urls: [broker.url], node: node, exchange: exchange)
        configuration.heartbeat = .seconds(1)
        let running = try RunningConsumer.start(configuration)
        let forwarder = try AMQPForwarder(
            configuration: TestBroker.configuration(urls: [broker.url], node: TestBroker.unique("sender"), exchange: exchange),
            logger: TestBroker.logger("restart"))
        forwarder.start()
        #expect(await eventually { forwarder.isConnected && running.consumer.isConnected })
        let before = [TestBroker.event(sequence: 1, data: "before")]
        #expect(await forwarder.forward(before, to: node) == .confirmed)
        #expect(await eventually { running.received.events == before })

        try await Task.detached { try broker.run("stop") }.value
        #expect(await eventually { !forwarder.isConnected && !running.consumer.isConnected })
        guard case .unavailable = await forwarder.forward(before, to: node) else {
            Issue.record("a forward without broker must be .unavailable")
            return
        }

        try await Task.detached { try broker.run("start") }.value
        #expect(await eventually(within: .seconds(20)) { forwarder.isConnected && running.consumer.isConnected })
        let after = [TestBroker.event(sequence: 2, data: "after")]
        #expect(await forwarder.forward(after, to: node) == .confirmed)
        #expect(await eventually { running.received.events == before + after })

        forwarder.shutdown()
        await running.stop()
    }
}
