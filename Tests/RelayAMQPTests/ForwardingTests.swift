import NIOCore
import RelayCore
import Testing

@testable import RelayAMQP

/// Forwarder and consumer against the real broker of `SSE_RELAY_TEST_AMQP_URL`.
@Suite(.enabled(if: TestBroker.url != nil, TestBroker.disabledReason), .timeLimit(.minutes(1)))
struct ForwardingTests {
    /// A forwarder for node `from`, connected, on a fresh exchange unless one is given.
    private func connectedForwarder(from node: String = TestBroker.unique("sender"), exchange: String) async throws -> AMQPForwarder {
        let forwarder = try AMQPForwarder(
            configuration: TestBroker.configuration(node: node, exchange: exchange), logger: TestBroker.logger("forwarder"))
        forwarder.start()
        #expect(await eventually { forwarder.isConnected }, "forwarder did not connect")
        return forwarder
    }

    private func connectedConsumer(node: String, exchange: String) async throws -> RunningConsumer {
        let running = try RunningConsumer.start(TestBroker.configuration(node: node, exchange: exchange))
        #expect(await eventually { running.consumer.isConnected }, "consumer did not connect")
        return running
    }

    @Test func confirmedEventsArriveIdenticalAndInOrder() async throws {
        let exchange = TestBroker.unique("ex")
        let node = TestBroker.unique("node-a")
        let consumer = try await connectedConsumer(node: node, exchange: exchange)
        let forwarder = try await connectedForwarder(exchange: exchange)

        let batches: [[ForwardedEvent]] = [
            [TestBroker.event(sequence: 1, data: "hello")],
            [
                TestBroker.event(client: "user@example.com", sequence: 2, data: "two\nlines", name: "update"),
                TestBroker.topicEvent("news:eu", sequence: 3, data: ""),
                TestBroker.event(sequence: 4, data: "ünïcødé ✓"),
            ],
            (5...20).map { TestBroker.event(sequence: $0, data: "n=\($0)") },
        ]
        for batch in batches {
            #expect(await forwarder.forward(batch, to: node) == .confirmed)
        }
        let expected = batches.flatMap { $0 }
        #expect(await eventually { consumer.received.events.count >= expected.count })
        #expect(consumer.received.events == expected)
        #expect(consumer.received.allBatches.count == batches.count)

        forwarder.shutdown()
        await forwarder.run()
        await consumer.stop()
    }

    @Test func nodeWithoutQueueIsNoRoute() async throws {
        let exchange = TestBroker.unique("ex")
        let forwarder = try await connectedForwarder(exchange: exchange)
        let outcome = await forwarder.forward([TestBroker.event(sequence: 1, data: "x")], to: TestBroker.unique("nobody"))
        #expect(outcome == .noRoute)
        // The connection survives a return: the next forward still gets a verdict.
        #expect(await forwarder.forward([TestBroker.event(sequence: 2, data: "y")], to: TestBroker.unique("nobody")) == .noRoute)
        #expect(await forwarder.forward([TestBroker.event(sequence: 3, data: "z")], to: "") == .noRoute)
        #expect(await forwarder.forward([], to: "anyone") == .confirmed)
        forwarder.shutdown()
    }

    @Test func thousandEventBatchRoundTrips() async throws {
        let exchange = TestBroker.unique("ex")
        let node = TestBroker.unique("node-big")
        let consumer = try await connectedConsumer(node: node, exchange: exchange)
        let forwarder = try await connectedForwarder(exchange: exchange)

        let batch = (1...1000).map { sequence in
            TestBroker.event(
                client: "client-\(sequence % 37)", sequence: UInt64(sequence),
                data: String(repeating: "payload \(sequence) ", count: 1 + sequence % 20))
        }
        #expect(await forwarder.forward(batch, to: node) == .confirmed)
        #expect(await eventually { consumer.received.events.count >= batch.count })
        #expect(consumer.received.allBatches == [batch])

        forwarder.shutdown()
        await consumer.stop()
    }

    @Test func malformedMessageIsDroppedAndTheNextOneArrives() async throws {
        let exchange = TestBroker.unique("ex")
        let node = TestBroker.unique("node-m")
        let consumer = try await connectedConsumer(node: node, exchange: exchange)
        let forwarder = try await connectedForwarder(exchange: exchange)

        let truncated = ForwardedBatchCodec.encode([TestBroker.event(sequence: 1, data: "a"), TestBroker.event(sequence: 2, data: "b")])
        var garbage = ["not a batch", "c:client-1\nid: 1-1\ndata: no blank line", "x:bad-kind\nid: 1-1\n\n", "c:bad id!\nid: 1-1\n\n", "c:ok\nid: not-an-id\n\n"]
            .map { ByteBuffer(string: $0) }
        garbage.append(truncated.getSlice(at: truncated.readerIndex, length: truncated.readableBytes - 3)!)
        garbage.append(ByteBuffer(bytes: (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7919) }))
        for body in garbage {
            #expect(await forwarder.forward(rawBody: body, to: node, messageID: "garbage") == .confirmed)
        }
        let good = [TestBroker.event(sequence: 7, data: "still works")]
        #expect(await forwarder.forward(good, to: node) == .confirmed)
        #expect(await eventually { !consumer.received.events.isEmpty })
        #expect(consumer.received.allBatches == [good])
        #expect(consumer.consumer.isConnected)

        forwarder.shutdown()
        await consumer.stop()
    }

    @Test func concurrentForwardsAreAllConfirmed() async throws {
        let exchange = TestBroker.unique("ex")
        let node = TestBroker.unique("node-c")
        let consumer = try await connectedConsumer(node: node, exchange: exchange)
        let forwarder = try await connectedForwarder(exchange: exchange)

        let outcomes = await withTaskGroup(of: ForwardOutcome.self) { group in
            for sequence in 1...500 {
                group.addTask { await forwarder.forward([TestBroker.event(sequence: UInt64(sequence), data: "c")], to: node) }
            }
            return await group.reduce(into: [ForwardOutcome]()) { $0.append($1) }
        }
        #expect(outcomes.count == 500)
        #expect(outcomes.allSatisfy { $0 == .confirmed })
        #expect(await eventually { consumer.received.events.count >= 500 })
        #expect(Set(consumer.received.events.map(\.id.sequence)) == Set(1...500))

        forwarder.shutdown()
        await consumer.stop()
    }

    @Test func stalledHandlerHoldsBackTheRestUntilItReturns() async throws {
        let exchange = TestBroker.unique("ex")
        let node = TestBroker.unique("node-s")
        var configuration = TestBroker.configuration(node: node, exchange: exchange)
        configuration.prefetch = 2
        let gate = AsyncStream.makeStream(of: Void.self)
        let running = try RunningConsumer.start(configuration) { _ in
            for await _ in gate.stream { break }
        }
        #expect(await eventually { running.consumer.isConnected })
        let forwarder = try await connectedForwarder(exchange: exchange)

        for sequence in 1...10 {
            #expect(await forwarder.forward([TestBroker.event(sequence: UInt64(sequence), data: "s")], to: node) == .confirmed)
        }
        #expect(await eventually { running.received.events.count == 1 })
        for _ in 1...10 { gate.continuation.yield() }
        #expect(await eventually { running.received.events.count == 10 })
        #expect(running.received.events.map(\.id.sequence) == Array(1...10))

        gate.continuation.finish()
        forwarder.shutdown()
        await running.stop()
    }

    @Test func unreachableBrokerIsUnavailableAtOnce() async throws {
        let forwarder = try AMQPForwarder(
            configuration: TestBroker.configuration(urls: [TestBroker.unreachableURL], node: "n", exchange: "ex"),
            logger: TestBroker.logger("unreachable", level: .critical))
        #expect(await forwarder.forward([TestBroker.event(sequence: 1, data: "x")], to: "other") == .unavailable("the AMQP forwarder is not started"))
        forwarder.start()
        let clock = ContinuousClock()
        for _ in 1...5 {
            let rounds = forwarder.progress
            var outcome: ForwardOutcome?
            let elapsed = await clock.measure {
                outcome = await forwarder.forward([TestBroker.event(sequence: 1, data: "x")], to: "other")
            }
            guard case .unavailable = outcome else {
                Issue.record("expected .unavailable, got \(String(describing: outcome))")
                break
            }
            #expect(elapsed < .milliseconds(50))
            // The next attempt comes after another failed connection round, not during one.
            #expect(await eventually { forwarder.progress > rounds }, "the worker keeps trying to connect")
        }
        #expect(!forwarder.isConnected)
        if case .unavailable(let reason) = await forwarder.forward([TestBroker.event(sequence: 1, data: "x")], to: "other") {
            #expect(reason.contains("127.0.0.1:1"), "the reason names the broker that failed: \(reason)")
            #expect(!reason.contains("guest:guest"))
        }
        forwarder.shutdown()
        await forwarder.run()
        #expect(await forwarder.forward([TestBroker.event(sequence: 1, data: "x")], to: "other") == .unavailable("the AMQP forwarder is shut down"))
    }

    @Test func refusedLoginIsReportedWithoutThePassword() async throws {
        var url = try AMQPURL(parsing: TestBroker.url!)
        url.password = "wrong-secret-42"
        let forwarder = try AMQPForwarder(
            configuration: TestBroker.configuration(urls: ["amqp://\(url.user):\(url.password)@\(url.host):\(url.port)/"], node: "n", exchange: "ex"),
            logger: TestBroker.logger("login", level: .critical))
        forwarder.start()
        // The refusal shows in what a forward answers, once the first round has failed.
        var reason = ""
        _ = await eventually {
            guard case .unavailable(let text) = await forwarder.forward([TestBroker.event(sequence: 1, data: "x")], to: "other"),
                text.contains("log in")
            else { return false }
            reason = text
            return true
        }
        #expect(reason.contains("ACCESS_REFUSED"), "the broker's reply is in the reason: \(reason)")
        #expect(!reason.contains("wrong-secret-42"))
        #expect(!forwarder.isConnected)
        forwarder.shutdown()
    }

    @Test func passwordOverrideReplacesTheOneInTheURL() async throws {
        let real = try AMQPURL(parsing: TestBroker.url!)
        var configuration = TestBroker.configuration(
            urls: ["amqp://\(real.user):not-the-password@\(real.host):\(real.port)/"], node: "n", exchange: TestBroker.unique("ex"))
        configuration.password = real.password
        let forwarder = try AMQPForwarder(configuration: configuration, logger: TestBroker.logger("override"))
        forwarder.start()
        #expect(await eventually { forwarder.isConnected })
        forwarder.shutdown()
    }

    @Test func fallsBackToTheNextURL() async throws {
        let exchange = TestBroker.unique("ex")
        let node = TestBroker.unique("node-f")
        let urls = [TestBroker.unreachableURL, TestBroker.url!]
        let running = try RunningConsumer.start(TestBroker.configuration(urls: urls, node: node, exchange: exchange))
        let forwarder = try AMQPForwarder(
            configuration: TestBroker.configuration(urls: urls, node: TestBroker.unique("sender"), exchange: exchange),
            logger: TestBroker.logger("fallback"))
        forwarder.start()
        #expect(await eventually { forwarder.isConnected && running.consumer.isConnected })
        let expectedBroker = try AMQPURL(parsing: TestBroker.url!).description
        #expect(forwarder.connectedBroker == expectedBroker)
        #expect(running.consumer.connectedBroker == expectedBroker)

        let batch = [TestBroker.event(sequence: 1, data: "via the second URL")]
        #expect(await forwarder.forward(batch, to: node) == .confirmed)
        #expect(await eventually { running.received.events == batch })

        forwarder.shutdown()
        await running.stop()
    }

    @Test func runReturnsWhenItsTaskIsCancelled() async throws {
        let forwarder = try AMQPForwarder(
            configuration: TestBroker.configuration(node: "n", exchange: TestBroker.unique("ex")), logger: TestBroker.logger("cancel"))
        let task = Task { await forwarder.run() }
        #expect(await eventually { forwarder.isConnected })
        task.cancel()
        await task.value
        #expect(!forwarder.isConnected)
    }
}
