import RelayCore
import Testing

@testable import RelayAMQP

@Suite struct ConfirmTrackerTests {
    private let start = ContinuousClock.now

    private func tracker(tags: ClosedRange<UInt64>, timeout: Duration = .seconds(5)) -> ConfirmTracker<UInt64> {
        var tracker = ConfirmTracker<UInt64>()
        for tag in tags { tracker.append(tag: tag, token: tag, deadline: start + timeout + .milliseconds(Int64(tag))) }
        return tracker
    }

    private func sorted(_ outcomes: [(UInt64, ForwardOutcome)]) -> [UInt64: ForwardOutcome] {
        Dictionary(uniqueKeysWithValues: outcomes.map { ($0.0, $0.1) })
    }

    @Test func multipleAckResolvesEverythingUpToTheTag() {
        var tracker = tracker(tags: 1...5)
        #expect(sorted(tracker.acknowledge(tag: 3, multiple: true)) == [1: .confirmed, 2: .confirmed, 3: .confirmed])
        #expect(sorted(tracker.acknowledge(tag: 5, multiple: false)) == [5: .confirmed])
        #expect(!tracker.isEmpty)
        #expect(sorted(tracker.acknowledge(tag: 4, multiple: false)) == [4: .confirmed])
        #expect(tracker.isEmpty)
        #expect(tracker.acknowledge(tag: 4, multiple: true).isEmpty)
    }

    @Test func returnedMessageResolvesAsNoRouteWithItsAck() {
        var tracker = tracker(tags: 1...3)
        let marked = tracker.markReturned(tag: 2)
        let unknown = tracker.markReturned(tag: 9)
        #expect(marked && !unknown)
        #expect(sorted(tracker.acknowledge(tag: 3, multiple: true)) == [1: .confirmed, 2: .noRoute, 3: .confirmed])
    }

    @Test func nackIsUnconfirmed() {
        var tracker = tracker(tags: 1...2)
        let outcomes = sorted(tracker.reject(tag: 2, multiple: true))
        #expect(outcomes.count == 2)
        #expect(outcomes.values.allSatisfy { if case .unconfirmed = $0 { true } else { false } })
    }

    @Test func expiryTakesOnlyWhatIsOverdue() {
        var tracker = tracker(tags: 1...4)
        _ = tracker.acknowledge(tag: 2, multiple: false)
        #expect(tracker.nextDeadline == start + .seconds(5) + .milliseconds(1))
        let expired = tracker.expire(now: start + .seconds(5) + .milliseconds(3), reason: "late")
        #expect(sorted(expired) == [1: .unconfirmed("late"), 3: .unconfirmed("late")])
        #expect(tracker.nextDeadline == start + .seconds(5) + .milliseconds(4))
        #expect(sorted(tracker.acknowledge(tag: 4, multiple: true)) == [4: .confirmed])
        #expect(tracker.isEmpty && tracker.nextDeadline == nil)
    }

    @Test func failAllReportsEveryOpenMessage() {
        var tracker = tracker(tags: 1...3)
        _ = tracker.acknowledge(tag: 1, multiple: false)
        #expect(sorted(tracker.failAll(reason: "gone")) == [2: .unconfirmed("gone"), 3: .unconfirmed("gone")])
        #expect(tracker.isEmpty)
    }

    @Test func manyMessagesStayCheap() {
        var tracker = ConfirmTracker<UInt64>()
        var resolved = 0
        for tag in UInt64(1)...50_000 {
            tracker.append(tag: tag, token: tag, deadline: start + .seconds(5))
            if tag % 100 == 0 { resolved += tracker.acknowledge(tag: tag, multiple: true).count }
        }
        #expect(resolved == 50_000)
        #expect(tracker.isEmpty)
    }
}
