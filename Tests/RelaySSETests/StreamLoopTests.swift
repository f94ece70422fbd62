import Dispatch
import Logging
import NIOCore
import NIOEmbedded
import NIOPosix
import Testing

@testable import RelayCore
@testable import RelaySSE

@Suite struct StreamLoopTests {
    /// Lifetimes stay within 90-100% of the maximum and spread over that range, so a crowd
    /// of streams opened together ends spread out.
    @Test func lifetimesSpreadOverTheLastTenthOfTheMaximum() {
        let loop = StreamLoop(eventLoop: EmbeddedEventLoop())
        let maximum = Duration.seconds(1000)
        let lifetimes = (0..<100).map { _ in loop.lifetime(upTo: maximum).nanoseconds }
        #expect(lifetimes.allSatisfy { $0 >= 900_000_000_000 && $0 <= 1_000_000_000_000 })
        // Every tenth of the range (10 s each) gets some of 100 consecutive streams.
        let buckets = Set(lifetimes.map { min(($0 - 900_000_000_000) / 10_000_000_000, 9) })
        #expect(buckets.count == 10, "\(buckets.sorted())")
    }

    /// What the broker's consumer waits on before it acknowledges: frames queued to a stalled
    /// loop stay counted, and `settled` completes only once the loop has taken them.
    @Test func queuedFramesAreCountedUntilTheLoopTakesThem() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let eventLoop = group.next()
        let loop = StreamLoop(eventLoop: eventLoop)
        let environment = StreamEnvironment(
            configuration: SSEServer.Configuration(nodeID: "test"), hub: Hub<SSEStream>(history: .init(), epoch: 1), replaySource: nil,
            counters: StreamCounters(), drainSwitch: DrainSwitch(), logger: Logger(label: "test"))
        let stream = try await eventLoop.submit {
            let client = ClientID("backlog")!
            return SSEStream(
                request: SSERequest(client: client, topics: [], lastEventID: nil),
                info: ConnectionInfo(node: "test", client: client, topics: [], sinceMilliseconds: 0, peer: "test"),
                queue: loop.queue, handler: NIOLoopBound(SSEStreamHandler(environment: environment, loop: loop), eventLoop: eventLoop))
        }.get()

        let stall = DispatchSemaphore(value: 0)
        eventLoop.execute { stall.wait() }
        loop.queue.deliver((0..<100).map { Delivery(subscriber: stream, frame: ByteBuffer(string: "data: x\n\n"), sequence: UInt64($0)) })
        #expect(loop.pendingDeliveries == 100)
        let settled = loop.settled()
        stall.signal()
        try await settled.get()
        #expect(loop.pendingDeliveries == 0)
        try await group.shutdownGracefully()
    }
}
