import NIOCore
import Testing

@testable import RelayCore

@Suite struct ReplayWindowTests {
    let alice = ReplayWindow.Stream.client(ClientID("alice")!)
    let bob = ReplayWindow.Stream.client(ClientID("bob")!)
    let news = ReplayWindow.Stream.topic(TopicName("news")!)
    let second: UInt64 = 1_000_000_000

    func frame(_ sequence: UInt64) -> ByteBuffer { ByteBuffer(string: "f\(sequence)") }

    func texts(_ replay: ReplayWindow.Replay) -> [String]? {
        guard case .frames(let frames) = replay else { return nil }
        return frames.map { String(buffer: $0) }
    }

    @Test func replaysOnlyAfterTheCursorForTheWantedStreams() {
        var window = ReplayWindow(configuration: .init())
        window.append(frame(1), sequence: 1, to: alice, now: 0)
        window.append(frame(2), sequence: 2, to: bob, now: 0)
        window.append(frame(3), sequence: 3, to: alice, now: 0)
        window.append(frame(4), sequence: 4, to: news, now: 0)
        #expect(texts(window.replay(after: 1, streams: [alice], now: 0)) == ["f3"])
        #expect(texts(window.replay(after: 0, streams: [alice, news], now: 0)) == ["f1", "f3", "f4"])
        #expect(texts(window.replay(after: 4, streams: [alice, news], now: 0)) == [])
    }

    @Test func perStreamCapMakesOlderCursorsTooOld() {
        var window = ReplayWindow(configuration: .init(eventsPerStream: 2))
        for sequence: UInt64 in 1...5 { window.append(frame(sequence), sequence: sequence, to: alice, now: 0) }
        #expect(texts(window.replay(after: 3, streams: [alice], now: 0)) == ["f4", "f5"])
        #expect(window.replay(after: 2, streams: [alice], now: 0) == .cursorTooOld)
        // Another stream's cap does not affect alice.
        window.append(frame(6), sequence: 6, to: bob, now: 0)
        #expect(texts(window.replay(after: 5, streams: [alice, bob], now: 0)) == ["f6"])
    }

    @Test func ageEvictsAndOldCursorsAreTooOld() {
        var window = ReplayWindow(configuration: .init(maxAge: .seconds(10)))
        window.append(frame(1), sequence: 1, to: alice, now: 0)
        window.append(frame(2), sequence: 2, to: alice, now: 5 * second)
        #expect(texts(window.replay(after: 0, streams: [alice], now: 9 * second)) == ["f1", "f2"])
        // At 11 s the first event is gone: a cursor before it cannot be replayed completely.
        #expect(window.replay(after: 0, streams: [alice], now: 11 * second) == .cursorTooOld)
        #expect(texts(window.replay(after: 1, streams: [alice], now: 11 * second)) == ["f2"])
        // A stream with nothing kept: fine if the cursor is not behind what was evicted.
        #expect(texts(window.replay(after: 1, streams: [bob], now: 11 * second)) == [])
        #expect(window.replay(after: 0, streams: [bob], now: 11 * second) == .cursorTooOld)
        #expect(window.streamCount == 1)
    }

    @Test func byteBudgetBoundsMemory() {
        let perEvent = 2 + ReplayWindow.overheadPerEvent
        var window = ReplayWindow(configuration: .init(maxBytes: perEvent * 3))
        for sequence: UInt64 in 1...9 { window.append(frame(sequence), sequence: sequence, to: sequence.isMultiple(of: 2) ? alice : bob, now: 0) }
        #expect(window.count == 3)
        #expect(window.bytes <= perEvent * 3)
        #expect(texts(window.replay(after: 6, streams: [alice, bob], now: 0)) == ["f7", "f8", "f9"])
        #expect(window.replay(after: 5, streams: [alice], now: 0) == .cursorTooOld)
    }

    @Test func disabledHistoryKeepsNothingAndResetsBehindCursors() {
        var window = ReplayWindow(configuration: .init(eventsPerStream: 0))
        window.append(frame(1), sequence: 1, to: alice, now: 0)
        #expect(window.count == 0)
        #expect(window.replay(after: 0, streams: [alice], now: 0) == .cursorTooOld)
        #expect(texts(window.replay(after: 1, streams: [alice], now: 0)) == [])
    }

    @Test func streamRecreatedAfterFullEvictionStillKnowsItsHorizon() {
        var window = ReplayWindow(configuration: .init(maxAge: .seconds(1)))
        window.append(frame(1), sequence: 1, to: alice, now: 0)
        window.append(frame(2), sequence: 2, to: alice, now: 2 * second)  // evicts 1, alice recreated
        #expect(window.replay(after: 0, streams: [alice], now: 2 * second) == .cursorTooOld)
        #expect(texts(window.replay(after: 1, streams: [alice], now: 2 * second)) == ["f2"])
    }
}
