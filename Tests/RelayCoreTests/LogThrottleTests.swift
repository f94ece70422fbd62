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
}
