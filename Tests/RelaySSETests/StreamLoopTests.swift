import NIOEmbedded
import Testing

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
}
