import Testing

@testable import RelayCore

@Suite struct TokenBucketsTests {
    let client = ClientID("c1")!
    let second: UInt64 = 1_000_000_000

    @Test func burstThenRate() {
        var buckets = TokenBuckets()
        let configuration = TokenBuckets.Configuration(rate: 10, burst: 5)
        let admitted = (0..<8).filter { _ in buckets.admit(client, now: 0, configuration: configuration) }
        #expect(admitted.count == 5)
        // 10 events/s: one more token every 100 ms.
        let early = buckets.admit(client, now: second / 20, configuration: configuration)
        let refilled = buckets.admit(client, now: second / 10, configuration: configuration)
        let again = buckets.admit(client, now: second / 10, configuration: configuration)
        #expect(!early && refilled && !again)
    }

    @Test func clientsAreIndependent() {
        var buckets = TokenBuckets()
        let configuration = TokenBuckets.Configuration(rate: 1, burst: 1)
        let first = buckets.admit(client, now: 0, configuration: configuration)
        let second = buckets.admit(client, now: 0, configuration: configuration)
        let other = buckets.admit(ClientID("c2")!, now: 0, configuration: configuration)
        #expect(first && !second && other)
    }

    @Test func idleBucketsAreEvictedAtCapacityWithoutChangingAnswers() {
        var buckets = TokenBuckets()
        let configuration = TokenBuckets.Configuration(rate: 1, burst: 2, capacity: 100)
        for index in 0..<100 { _ = buckets.admit(ClientID("c\(index)")!, now: 0, configuration: configuration) }
        #expect(buckets.count == 100)
        // Two seconds later every bucket is full again: a new id evicts them all.
        let admitted = buckets.admit(ClientID("new")!, now: 2 * second, configuration: configuration)
        #expect(admitted)
        #expect(buckets.count == 1)
    }

    @Test func busyTableFailsOpenAndStaysBounded() {
        var buckets = TokenBuckets()
        let configuration = TokenBuckets.Configuration(rate: 1, burst: 2, capacity: 10)
        let admitted = (0..<1_000).filter { buckets.admit(ClientID("c\($0)")!, now: 0, configuration: configuration) }
        #expect(admitted.count == 1_000)
        #expect(buckets.count == 10)
    }

    @Test func limiterCountsDrops() {
        let limiter = PublishRateLimiter()
        let configuration = TokenBuckets.Configuration(rate: 0.001, burst: 3)
        let admitted = (0..<10).filter { _ in limiter.admit(client, configuration: configuration) }.count
        #expect(admitted == 3)
        #expect(limiter.counters.eventsRateLimited == 7)
    }

    @Test func coalescingKeepsOnlyTheLatestHeldBackEventAndSendsItWhenTheRateAllows() async throws {
        let limiter = PublishRateLimiter()
        let configuration = TokenBuckets.Configuration(rate: 20, burst: 1)  // a token every 50 ms
        func publication(_ data: String) -> Publication { Publication(target: .client(client), event: Event(data: data)) }
        #expect(limiter.admit(publication("1"), client: client, configuration: configuration, action: .coalesce) == .admitted)
        #expect(limiter.admit(publication("2"), client: client, configuration: configuration, action: .coalesce) == .deferred(replaced: false))
        #expect(limiter.admit(publication("3"), client: client, configuration: configuration, action: .coalesce) == .deferred(replaced: true))
        #expect(limiter.heldBack == 1)
        #expect(limiter.counters.eventsRateLimited == 1, "only the replaced event is lost")
        #expect(limiter.claimFlush(), "the first hold schedules the flush")
        #expect(!limiter.claimFlush(), "one flush at a time")
        var sent: [Publication] = []
        let deadline = ContinuousClock.now + .seconds(30)  // generous: CI machines stall
        while sent.isEmpty, ContinuousClock.now < deadline {
            let (ready, holding) = limiter.due(configuration: configuration)
            sent = ready
            #expect(holding == ready.isEmpty)
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(sent == [publication("3")])
        #expect(limiter.heldBack == 0)
        #expect(!limiter.claimFlush(), "nothing held, nothing to flush")
    }

    /// One flush runs while events are held; once they are gone the next hold starts a new
    /// one (no timer ticks in between).
    @Test func aNewHoldAfterTheFlushEndedClaimsANewFlush() {
        let limiter = PublishRateLimiter()
        let configuration = TokenBuckets.Configuration(rate: 0.001, burst: 1)  // no token comes back during the test
        func publication(_ data: String) -> Publication { Publication(target: .client(client), event: Event(data: data)) }
        #expect(limiter.admit(publication("1"), client: client, configuration: configuration, action: .coalesce) == .admitted)
        #expect(limiter.admit(publication("2"), client: client, configuration: configuration, action: .coalesce) == .deferred(replaced: false))
        #expect(limiter.claimFlush())
        #expect(limiter.due(configuration: configuration) == ([], true), "still held: the flush goes on")
        #expect(!limiter.claimFlush(), "it is still the same flush")
        #expect(limiter.due(configuration: nil) == ([publication("2")], false), "no limit any more: everything goes, the flush ends")
        #expect(limiter.admit(publication("3"), client: client, configuration: configuration, action: .coalesce) == .deferred(replaced: false))
        #expect(limiter.claimFlush(), "a new hold after the flush ended claims a new one")
    }

    /// While an event is held back, a newer one must not overtake it even if a token is free.
    @Test func heldBackEventIsNotOvertaken() {
        let limiter = PublishRateLimiter()
        let configuration = TokenBuckets.Configuration(rate: 1000, burst: 1)
        let first = Publication(target: .client(client), event: Event(data: "a"))
        _ = limiter.admit(first, client: client, configuration: configuration, action: .coalesce)
        _ = limiter.admit(first, client: client, configuration: configuration, action: .coalesce)
        // 1000/s: a token is back within a millisecond, but the held-back event goes first.
        let later = limiter.admit(Publication(target: .client(client), event: Event(data: "b")), client: client, configuration: configuration, action: .coalesce)
        #expect(later == .deferred(replaced: true))
    }
}
