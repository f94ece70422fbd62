import Testing

@testable import RelayCore

@Suite struct LogThrottleTests {
    @Test func oneLinePerIntervalWithTheCountHeldBack() {
        var throttle = LogThrottle(intervalNanoseconds: 1_000)
        #expect(throttle.record(now: 5_000) == (true, 0))
        #expect(throttle.record(now: 5_500) == (false, 0))
        #expect(throttle.record(now: 5_999) == (false, 0))
        #expect(throttle.record(now: 6_000) == (true, 2))
        #expect(throttle.record(now: 9_000) == (true, 0))
    }

    @Test func refusedPublishersAreAllCountedAndLoggedOncePerInterval() {
        let counters = PublishCounters(refusalLogInterval: .seconds(10))
        #expect(counters.recordRefusedPublisher(now: 1) == (true, 0))
        #expect(counters.recordRefusedPublisher(now: 2) == (false, 0))
        #expect(counters.recordRefusedPublisher(now: 10_000_000_001) == (true, 1))
        #expect(counters.publishersRefused == 3)
    }

    @Test func eachKeyHasItsOwnInterval() {
        var throttle = KeyedLogThrottle<String>(capacity: 8, intervalNanoseconds: 1_000)
        #expect(throttle.record("a", now: 5_000) == (true, 0))
        #expect(throttle.record("a", now: 5_100) == (false, 0))
        #expect(throttle.record("b", now: 5_200) == (true, 0), "another source is not hidden by a's flood")
        #expect(throttle.record("a", now: 6_000) == (true, 1))
    }

    @Test func keysAreBoundedForgettingQuietOnesFirst() {
        var throttle = KeyedLogThrottle<Int>(capacity: 4, intervalNanoseconds: 1_000)
        for key in 0..<4 { _ = throttle.record(key, now: 0) }
        _ = throttle.record(3, now: 900)
        // At 1,500 every key's interval has passed: they make room for the new key.
        #expect(throttle.record(4, now: 1_500) == (true, 0))
        #expect(throttle.count == 1)
        // Full of keys still inside their interval: all are forgotten rather than grow.
        for key in 10..<13 { _ = throttle.record(key, now: 1_600) }
        #expect(throttle.count == 4)
        #expect(throttle.record(99, now: 1_700) == (true, 0))
        #expect(throttle.count == 1)
    }

    @Test func subscriberRefusalsAreCountedAndLoggedOncePerReasonAndPeer() {
        let counters = StreamCounters()
        #expect(counters.recordRefusal(.rateLimited, peer: "10.0.0.1", now: 1) == (true, 0))
        #expect(counters.recordRefusal(.rateLimited, peer: "10.0.0.1", now: 2) == (false, 0))
        #expect(counters.recordRefusal(.rateLimited, peer: "10.0.0.2", now: 3) == (true, 0))
        #expect(counters.recordRefusal(.unauthenticated, peer: "10.0.0.1", now: 4) == (true, 0))
        #expect(counters.recordRefusal(.rateLimited, peer: "10.0.0.1", now: 10_000_000_001) == (true, 1))
        #expect(counters.refusals[.rateLimited] == 4 && counters.refusals[.unauthenticated] == 1)
    }
}
