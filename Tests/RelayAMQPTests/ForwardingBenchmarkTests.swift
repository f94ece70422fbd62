import Foundation
import RelayCore
import Testing

@testable import RelayAMQP

/// Throughput and latency of forwarding, printed rather than asserted: numbers depend on the
/// machine. Opt-in with `SSE_RELAY_AMQP_BENCH=1` (plus the broker URL).
@Suite(
    .enabled(if: TestBroker.url != nil && ProcessInfo.processInfo.environment["SSE_RELAY_AMQP_BENCH"] == "1", "set SSE_RELAY_AMQP_BENCH=1 to measure"),
    .serialized, .timeLimit(.minutes(2)))
struct ForwardingBenchmarkTests {
    private func setUp(_ label: String) async throws -> (AMQPForwarder, RunningConsumer, String) {
        let exchange = TestBroker.unique("bench-ex")
        let node = TestBroker.unique("bench-\(label)")
        var configuration = TestBroker.configuration(node: node, exchange: exchange)
        configuration.prefetch = 256
        let consumer = try RunningConsumer.start(configuration)
        let forwarder = try AMQPForwarder(
            configuration: TestBroker.configuration(node: TestBroker.unique("sender"), exchange: exchange), logger: TestBroker.logger("bench"))
        forwarder.start()
        #expect(await eventually { forwarder.isConnected && consumer.consumer.isConnected })
        return (forwarder, consumer, node)
    }

    @Test func batchedThroughput() async throws {
        let (forwarder, consumer, node) = try await setUp("batch")
        let batchSize = 100
        let callers = 8
        let duration = Duration.seconds(3)
        let batch = (1...batchSize).map { TestBroker.event(client: "client-\($0 % 50)", sequence: UInt64($0), data: "{\"price\": \($0).25, \"symbol\": \"ABC\"}") }

        let start = ContinuousClock.now
        let confirmed = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<callers {
                group.addTask {
                    var sent = 0
                    while ContinuousClock.now - start < duration {
                        if await forwarder.forward(batch, to: node) == .confirmed { sent += batchSize }
                    }
                    return sent
                }
            }
            return await group.reduce(0, +)
        }
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("AMQP bench: \(confirmed) events confirmed in batches of \(batchSize) by \(callers) callers: \(Int(Double(confirmed) / seconds)) events/s")
        #expect(await eventually(within: .seconds(30)) { consumer.received.events.count >= confirmed })
        print("AMQP bench: consumer received \(consumer.received.events.count) events")
        forwarder.shutdown()
        await consumer.stop()
    }

    @Test func singleEventLatencyAt2000PerSecond() async throws {
        let (forwarder, consumer, node) = try await setUp("latency")
        let perTick = 10
        let tick = Duration.milliseconds(5)
        let ticks = 1000  // 5 s at 2,000 forwards/s
        let event = [TestBroker.event(sequence: 1, data: "tick")]
        let clock = ContinuousClock()
        let start = clock.now

        let latencies = await withTaskGroup(of: (Duration, Bool).self) { group in
            for index in 0..<ticks {
                try? await clock.sleep(until: start + tick * index)
                for _ in 0..<perTick {
                    group.addTask {
                        let sent = clock.now
                        let outcome = await forwarder.forward(event, to: node)
                        return (clock.now - sent, outcome == .confirmed)
                    }
                }
            }
            return await group.reduce(into: [(Duration, Bool)]()) { $0.append($1) }
        }
        let sorted = latencies.map(\.0).sorted()
        func percentile(_ p: Double) -> Duration { sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
        let total = clock.now - start
        print("AMQP bench: \(latencies.count) single-event forwards in \(total), confirmed \(latencies.filter(\.1).count); latency p50 \(percentile(0.5)), p99 \(percentile(0.99)), max \(sorted.last!)")
        #expect(latencies.allSatisfy { $0.1 })
        forwarder.shutdown()
        await consumer.stop()
    }
}
