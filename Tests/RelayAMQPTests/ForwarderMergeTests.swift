import NIOCore
import RelayCore
import Synchronization
import Testing

@testable import RelayAMQP

/// Which queued forwards share a message: pure logic over the queue the worker drains.
@Suite struct ForwarderMergeTests {
    private final class Told: Sendable {
        let outcomes = Mutex<[String]>([])
    }

    private func request(_ key: String, _ body: String, mergeable: Bool = true, told: Told? = nil) -> ForwarderWorker.Request {
        ForwarderWorker.Request(
            routingKey: key, messageID: body, body: ByteBuffer(string: body),
            waiter: { outcome in told?.outcomes.withLock { $0.append("\(body):\(outcome)") } }, mergeable: mergeable)
    }

    private func shape(_ messages: [(Range<Int>, ForwarderWorker.Request)]) -> [String] {
        messages.map { "\($0.0.lowerBound)..<\($0.0.upperBound) \($0.1.routingKey) \(String(buffer: $0.1.body))" }
    }

    @Test func runsForOneNodeBecomeOneMessageInOrder() {
        let queue = [request("b", "1"), request("b", "2"), request("c", "3"), request("b", "4"), request("b", "5")]
        #expect(shape(ForwarderWorker.merged(queue)) == ["0..<2 b 12", "2..<3 c 3", "3..<5 b 45"])
    }

    @Test func controlMessagesAreNeverMerged() {
        let queue = [request("b", "1"), request("b", "ctl", mergeable: false), request("b", "2"), request("b", "3")]
        #expect(shape(ForwarderWorker.merged(queue)) == ["0..<1 b 1", "1..<2 b ctl", "2..<4 b 23"])
    }

    @Test func mergingStopsAtTheSizeLimit() {
        let big = String(repeating: "x", count: ForwarderWorker.maxMergedBytes / 2)
        let queue = [request("b", big), request("b", big), request("b", "tail")]
        #expect(ForwarderWorker.merged(queue).map(\.0) == [0..<2, 2..<3])
    }

    @Test func everyCallerOfAMergedMessageIsToldItsOutcome() {
        let told = Told()
        let queue = [request("b", "1", told: told), request("b", "2", told: told), request("b", "3", told: told)]
        let messages = ForwarderWorker.merged(queue)
        #expect(messages.count == 1)
        messages[0].1.waiter(ForwardOutcome.confirmed)
        #expect(told.outcomes.withLock { $0 } == ["1:confirmed", "2:confirmed", "3:confirmed"])
    }
}
