import Foundation
import RelayCore
import Testing

@testable import RelayAMQP

/// Stops and restarts a private broker (Tests/servers/rabbitmq.sh on a port of its own, so
/// the shared broker of the other suites stays up) and checks that forwarder and consumer
/// recover without help; then raises a memory alarm on it to see a confirm time out.
@Suite(.enabled(if: TestBroker.canRunPrivateBroker, TestBroker.privateBrokerDisabledReason), .timeLimit(.minutes(2)))
struct BrokerRestartTests {
    static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("servers/rabbitmq.sh")

    private struct PrivateBroker {
        let port = Int.random(in: 30_000...39_999)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sse-relay-amqp-restart-\(UUID().uuidString)")
        var url: String { "amqp://guest:guest@127.0.0.1:\(port)/" }

        /// Runs the script on a thread of its own and waits for it without blocking a task:
        /// Foundation's `Process` left the finished script a zombie here, and a blocking wait
        /// would hold one of the few threads of Swift's shared pool for the broker's boot.
        func run(_ command: String) async throws {
            let arguments = arguments(command)
            let status = await withCheckedContinuation { (done: CheckedContinuation<Int32, Never>) in
                Thread.detachNewThread { done.resume(returning: Self.spawnAndWait(arguments)) }
            }
            guard status == 0 else {
                throw AMQPError(.system, "rabbitmq.sh \(command) \(port) failed with wait status \(status)")
            }
        }

        /// rabbitmqctl against this node, e.g. to raise a memory alarm.
        func control(_ arguments: String...) async throws {
            let argv = ["/usr/lib/rabbitmq/bin/rabbitmqctl", "-q", "-n", "sse-relay-test-\(port)@localhost"] + arguments
            let status = await withCheckedContinuation { (done: CheckedContinuation<Int32, Never>) in
                Thread.detachNewThread { done.resume(returning: Self.spawnAndWait(argv)) }
            }
            guard status == 0 else {
                throw AMQPError(.system, "rabbitmqctl \(arguments.joined(separator: " ")) failed with wait status \(status)")
            }
        }

        /// For a failed test's `defer`, which cannot await: leaking a broker would be worse
        /// than blocking a thread for the three seconds a stop takes.
        func stopBlocking() {
            _ = Self.spawnAndWait(arguments("stop"))
            try? FileManager.default.removeItem(at: directory)
        }

        private func arguments(_ command: String) -> [String] {
            ["/bin/bash", BrokerRestartTests.script.path, command, String(port), directory.path]
        }

        private static func spawnAndWait(_ arguments: [String]) -> Int32 {
            var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
            defer { argv.forEach { free($0) } }
            var pid: pid_t = 0
            guard posix_spawn(&pid, arguments[0], nil, nil, &argv, environ) == 0 else { return -1 }
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
            return status
        }
    }

    @Test func forwarderAndConsumerRecoverFromABrokerRestart() async throws {
        let broker = PrivateBroker()
        try await broker.run("start")
        var stopped = false
        defer { if !stopped { broker.stopBlocking() } }

        let exchange = TestBroker.unique("ex")
        let node = TestBroker.unique("node-r")
        var configuration = TestBroker.configuration(urls: [broker.url], node: node, exchange: exchange)
        configuration.heartbeat = .seconds(1)
        let running = try RunningConsumer.start(configuration)
        var forwarderConfiguration = TestBroker.configuration(urls: [broker.url], node: TestBroker.unique("sender"), exchange: exchange)
        forwarderConfiguration.confirmTimeout = .seconds(1)
        let forwarder = try AMQPForwarder(configuration: forwarderConfiguration, logger: TestBroker.logger("restart"))
        forwarder.start()
        #expect(await eventually { forwarder.isConnected && running.consumer.isConnected })
        let before = [TestBroker.event(sequence: 1, data: "before")]
        #expect(await forwarder.forward(before, to: node) == .confirmed)
        #expect(await eventually { running.received.events == before })

        try await broker.run("stop")
        #expect(await eventually { !forwarder.isConnected && !running.consumer.isConnected })
        guard case .unavailable = await forwarder.forward(before, to: node) else {
            Issue.record("a forward without broker must be .unavailable")
            return
        }

        try await broker.run("start")
        #expect(await eventually(within: .seconds(20)) { forwarder.isConnected && running.consumer.isConnected })
        let after = [TestBroker.event(sequence: 2, data: "after")]
        #expect(await forwarder.forward(after, to: node) == .confirmed)
        #expect(await eventually { running.received.events == before + after })

        // A memory alarm makes the broker stop reading from publishers: no confirm comes,
        // and the forward must give up after the confirm timeout instead of hanging.
        try await broker.control("set_vm_memory_high_watermark", "0")
        let clock = ContinuousClock()
        var blockedOutcome: ForwardOutcome?
        let waited = await clock.measure {
            blockedOutcome = await forwarder.forward([TestBroker.event(sequence: 3, data: "blocked")], to: node)
        }
        guard case .unconfirmed = blockedOutcome else {
            Issue.record("expected .unconfirmed during a memory alarm, got \(String(describing: blockedOutcome))")
            return
        }
        #expect(waited >= .seconds(1) && waited < .seconds(3), "gave up after \(waited), the confirm timeout is 1 s")
        try await broker.control("set_vm_memory_high_watermark", "0.4")
        // The late confirm of the blocked message must not confuse the next one's.
        let last = [TestBroker.event(sequence: 4, data: "unblocked")]
        #expect(await eventually { forwarder.isConnected })
        #expect(await forwarder.forward(last, to: node) == .confirmed)
        #expect(await eventually { running.received.events.last == last.last })

        forwarder.shutdown()
        await running.stop()
        try await broker.run("stop")
        stopped = true
        try? FileManager.default.removeItem(at: broker.directory)
    }
}
