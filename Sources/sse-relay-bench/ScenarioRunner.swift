import NIOCore
import NIOHTTP1
import NIOPosix

/// Runs one publishing scenario against the connected subscribers and turns the counts into figures.
struct ScenarioRunner: Sendable {
    let board: StatsBoard
    let factory: RequestFactory
    /// The relay's publish socket, or a peer's HTTP publish address.
    let publishEndpoint: PublishEndpoint
    let publishers: Int
    let pipeline: Int
    let bulkPipeline: Int
    /// All processes of the server under test, for CPU and memory.
    let serverPids: [Int32]
    /// Give up waiting for stragglers after this long.
    let settleTimeout: Double
    /// Consider delivery finished when the received count has not grown for this long.
    let settleQuiet: Double

    func run(
        name: String, description: String, mode: PublishPlan.Mode, duration: Double
    ) async throws -> ScenarioFigures {
        try await board.resetScenario()
        let before = try await board.snapshot(includeHistogram: false)

        let cpu = CPUWindow(serverPids: serverPids)
        var plan = PublishPlan(
            mode: mode, durationNanos: UInt64(duration * 1e9), pipeline: pipeline, seed: 0
        )
        if case .bulk = mode {
            plan.pipeline = bulkPipeline
        }
        // Each publisher gets its share of a paced rate.
        switch mode {
        case .targetedRate(let rate): plan.mode = .targetedRate(rate / Double(publishers))
        case .topicRate(let rate): plan.mode = .topicRate(rate / Double(publishers))
        case .targetedMax, .bulk: break
        }
        var published = PublishResult()
        if factory.target == .pushpin, case .tcp(let address) = publishEndpoint {
            // No keep-alive on Pushpin's publish API: one connection per call, as many calls in
            // flight as the pipelined publishers would have.
            let oneShot = OneShotPublisher(factory: factory, address: address, loops: board.loops)
            var paced = plan
            paced.mode = mode
            paced.seed = 0x5EED_0000 &+ MonotonicClock.nanoseconds()
            published = await oneShot.run(plan: paced, workers: publishers * plan.pipeline)
        } else {
            published = try await publishKeepAlive(plan: plan)
        }

        let expected: Int
        if case .topicRate = mode {
            // Every live subscription is on the topic.
            expected = published.accepted * before.live
        } else {
            expected = published.accepted
        }
        // CPU is taken up to the last poll at which deliveries were still arriving, so a relay
        // that drains a backlog after publishing ends is charged for it, but the quiet wait is not.
        let (settled, usage) = try await settle(expected: expected, cpu: cpu)
        let after = try await board.snapshot(includeHistogram: true)

        let publishSeconds = MonotonicClock.seconds(from: published.startNanos, to: published.sendEndNanos)
        let deliverySeconds = MonotonicClock.seconds(from: published.startNanos, to: after.lastReceiveNanos)
        return ScenarioFigures(
            name: name,
            description: description,
            publishSeconds: publishSeconds,
            requests: published.requests,
            published: published.eventsSent,
            publishedPerSecond: rate(published.eventsSent, publishSeconds),
            requestsPerSecond: rate(published.requests, publishSeconds),
            accepted: published.accepted,
            notConnected: published.notConnected,
            rejected: published.rejected,
            reportedDelivered: published.reportedDelivered,
            statusCounts: Dictionary(uniqueKeysWithValues: published.statusCounts.map { ("\($0.key)", $0.value) }),
            maxBacklog: published.maxBacklog,
            expected: expected,
            received: after.received,
            lost: max(0, expected - after.received),
            extra: max(0, after.received - expected),
            untimed: after.untimed,
            deliverySeconds: deliverySeconds,
            deliveredPerSecond: rate(after.received, deliverySeconds),
            latency: LatencyFigures(after.histogram ?? LatencyHistogram()),
            settled: settled,
            droppedConnections: after.dropped - before.dropped,
            liveConnections: after.live,
            benchCPUPercent: usage.benchPercent,
            serverCPUPercent: usage.serverPercent,
            serverRSSKiB: ProcessStats.memoryKiB(pids: serverPids),
            errors: published.errors
        )
    }

    /// Every publisher connection runs its share of `plan` on its own event loop.
    private func publishKeepAlive(plan: PublishPlan) async throws -> PublishResult {
        let channels = try await connectPublishers()
        var futures: [EventLoopFuture<PublishResult>] = []
        for (index, channel) in channels.enumerated() {
            var own = plan
            own.seed = 0x5EED_0000 &+ UInt64(index) &* 7919 &+ MonotonicClock.nanoseconds()
            let ownPlan = own
            futures.append(channel.eventLoop.flatSubmit {
                do {
                    return try channel.pipeline.syncOperations.handler(type: Publisher.self).start(ownPlan)
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            })
        }
        var published = PublishResult()
        for future in futures {
            published.merge(try await future.get())
        }
        for channel in channels {
            try? await channel.close()
        }

        return published
    }

    private func connectPublishers() async throws -> [any Channel] {
        var channels: [any Channel] = []
        for index in 0..<publishers {
            let loop = board.loops[index % board.loops.count]
            let factory = self.factory
            let bootstrap = ClientBootstrap(group: loop)
                .channelInitializer { channel in
                    do {
                        let sync = channel.pipeline.syncOperations
                        // Header validation re-checks our own constant headers on every request.
                        try sync.addHTTPClientHandlers(enableOutboundHeaderValidation: false)
                        try sync.addHandler(Publisher(factory: factory))
                        return channel.eventLoop.makeSucceededVoidFuture()
                    } catch {
                        return channel.eventLoop.makeFailedFuture(error)
                    }
                }
            let channel: any Channel
            switch publishEndpoint {
            case .unixSocket(let path):
                channel = try await bootstrap.connect(unixDomainSocketPath: path).get()
            case .tcp(let address):
                channel = try await bootstrap.channelOption(.socketOption(.tcp_nodelay), value: 1)
                    .connect(to: address).get()
            }
            channels.append(channel)
        }
        return channels
    }

    /// Waits until everything expected has arrived, or the count stops growing, or the deadline.
    /// Returns whether everything expected arrived, and the CPU use up to the last growth.
    private func settle(
        expected: Int, cpu: CPUWindow
    ) async throws -> (Bool, (benchPercent: Double, serverPercent: Double?)) {
        let deadline = MonotonicClock.nanoseconds() + UInt64(settleTimeout * 1e9)
        var lastCount = -1
        var lastChange = MonotonicClock.nanoseconds()
        var usage = cpu.finish()
        while true {
            let snapshot = try await board.snapshot(includeHistogram: false)
            let now = MonotonicClock.nanoseconds()
            if snapshot.received != lastCount {
                lastCount = snapshot.received
                lastChange = now
                usage = cpu.finish()
            }
            if snapshot.received >= expected { return (true, usage) }
            if MonotonicClock.seconds(from: lastChange, to: now) >= settleQuiet || now >= deadline {
                return (false, usage)
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    private func rate(_ count: Int, _ seconds: Double) -> Double {
        seconds > 0 ? Double(count) / seconds : 0
    }
}
