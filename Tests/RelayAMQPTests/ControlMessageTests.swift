import NIOCore
import RelayCore
import Synchronization
import Testing

@testable import RelayAMQP

/// Admin control messages through the real broker of `SSE_RELAY_TEST_AMQP_URL`: they share
/// the node's queue with forwarded events, so both must come out the right side, in order.
@Suite(.enabled(if: TestBroker.url != nil, TestBroker.disabledReason), .timeLimit(.minutes(1)))
struct ControlMessageTests {
    /// Events and control messages in the order the consumer handed them over.
    final class Arrivals: Sendable {
        let items = Mutex<[String]>([])
        func add(_ item: String) { items.withLock { $0.append(item) } }
        var all: [String] { items.withLock { $0 } }
    }

    @Test func controlMessagesReachTheControlHandlerInQueueOrder() async throws {
        let exchange = TestBroker.unique("ex")
        let node = TestBroker.unique("node-b")
        let arrivals = Arrivals()
        let received = Mutex<[ControlMessage]>([])
        let consumer = try AMQPConsumer(
            configuration: TestBroker.configuration(node: node, exchange: exchange), logger: TestBroker.logger("consumer")
        ) { events in
            for event in events { arrivals.add("event \(event.id.sequence)") }
        } control: { message in
            received.withLock { $0.append(message) }
            if case .request(let request) = message { arrivals.add("request \(request.id)") }
            if case .reply(let reply) = message { arrivals.add("reply \(reply.id)") }
        }
        let task = Task { await consumer.run() }
        let forwarder = try AMQPForwarder(
            configuration: TestBroker.configuration(node: TestBroker.unique("node-a"), exchange: exchange), logger: TestBroker.logger("forwarder"))
        forwarder.start()
        #expect(await eventually { consumer.isConnected && forwarder.isConnected })

        let client = ClientID("user-1")!
        let request = ControlRequest(id: "a.1", from: "node-a", action: .kick, client: client, expiresMilliseconds: 42)
        let reply = ControlReply(
            id: "b.7", from: "node-c",
            connections: [ConnectionInfo(node: "node-c", client: client, topics: [TopicName("news")!], sinceMilliseconds: 5, peer: "10.0.0.1:443")])
        #expect(await forwarder.forward([TestBroker.event(sequence: 1, data: "one")], to: node) == .confirmed)
        #expect(await forwarder.send(.request(request), to: node) == .confirmed)
        // A control header with garbage after it is dropped; consumption goes on.
        #expect(await forwarder.forward(rawBody: ByteBuffer(string: "sse-relay-control 1\nrequest ???\n"), to: node, messageID: "bad") == .confirmed)
        #expect(await forwarder.forward([TestBroker.event(sequence: 2, data: "two")], to: node) == .confirmed)
        #expect(await forwarder.send(.reply(reply), to: node) == .confirmed)

        #expect(await eventually { arrivals.all.count >= 4 })
        #expect(arrivals.all == ["event 1", "request a.1", "event 2", "reply b.7"])
        #expect(received.withLock { $0 } == [.request(request), .reply(reply)])
        // No queue for a node nobody runs: the sender learns it at once.
        #expect(await forwarder.send(.request(request), to: TestBroker.unique("nobody")) == .noRoute)

        forwarder.shutdown()
        await forwarder.run()
        consumer.shutdown()
        await task.value
    }
}
