import NIOCore
import NIOHTTP1
import NIOPosix

/// Opens the N SSE subscriptions.
///
/// At most `concurrency` connects are in progress at once: firing 10k SYNs together overflows the
/// relay's listen backlog and turns into retransmit stalls of a second or more, which would measure
/// the kernel, not the relay. A connect counts as in progress until its first body bytes arrive,
/// so the limit also bounds the relay's half-registered clients.
struct SSEConnector: Sendable {
    let server: SocketAddress
    /// Local addresses to bind, round robin; empty to let the kernel choose. One loopback address
    /// only has ~28k ephemeral ports, and closed connections sit in TIME_WAIT, so repeated runs
    /// of 10k connections need several.
    let localAddresses: [SocketAddress]
    let board: StatsBoard
    let concurrency: Int
    let timeout: TimeAmount

    struct Outcome: Sendable {
        var channels: [any Channel] = []
        var failures = 0
        var failureReasons: [String: Int] = [:]
        var seconds = 0.0
    }

    func connect(count: Int, template: SSERequestTemplate) async -> Outcome {
        let start = MonotonicClock.nanoseconds()
        var outcome = Outcome()
        outcome.channels.reserveCapacity(count)
        await withTaskGroup(of: Result<any Channel, any Error>.self) { group in
            var next = 0
            while next < min(concurrency, count) {
                let index = next
                group.addTask { await connectOne(index: index, template: template) }
                next += 1
            }
            for await result in group {
                switch result {
                case .success(let channel):
                    outcome.channels.append(channel)
                case .failure(let error):
                    outcome.failures += 1
                    outcome.failureReasons["\(error)", default: 0] += 1
                }
                if next < count {
                    let index = next
                    group.addTask { await connectOne(index: index, template: template) }
                    next += 1
                }
            }
        }
        outcome.seconds = MonotonicClock.seconds(from: start, to: MonotonicClock.nanoseconds())
        return outcome
    }

    func connectOne(index: Int, template: SSERequestTemplate) async -> Result<any Channel, any Error> {
        let loopIndex = index % board.loops.count
        let loop = board.loops[loopIndex]
        let firstBytes = loop.makePromise(of: Void.self)
        let board = self.board
        var bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                do {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHTTPClientHandlers()
                    try sync.addHandler(
                        SSEClientHandler(
                            clientIndex: index,
                            template: template,
                            stats: board.stats(forLoop: loopIndex),
                            firstBytes: firstBytes
                        )
                    )
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
        if !localAddresses.isEmpty {
            bootstrap = bootstrap.bind(to: localAddresses[index % localAddresses.count])
        }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(to: server).get()
        } catch {
            // The handler may never have been created; nobody else will complete the promise.
            firstBytes.fail(error)
            return .failure(error)
        }
        let timer = loop.scheduleTask(in: timeout) {
            firstBytes.fail(BenchError.firstBytesTimeout)
            channel.close(promise: nil)
        }
        do {
            try await firstBytes.futureResult.get()
            timer.cancel()
            return .success(channel)
        } catch {
            timer.cancel()
            channel.close(promise: nil)
            return .failure(error)
        }
    }

    /// Closes all channels and waits until each is closed, so client ids are free for reuse.
    static func closeAll(_ channels: [any Channel]) async {
        for channel in channels {
            channel.close(promise: nil)
        }
        for channel in channels {
            try? await channel.closeFuture.get()
        }
    }
}
