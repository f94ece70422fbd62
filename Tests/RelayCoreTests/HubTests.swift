import NIOCore
import Synchronization
import Testing

@testable import RelayCore

/// A subscriber that records what the hub queues to it, in order.
final class RecordingSubscriber: Subscriber {
    let clientID: ClientID
    let topics: [TopicName]
    let queue: DeliveryQueue<RecordingSubscriber>

    init(_ client: String, topics: [String] = [], queue: DeliveryQueue<RecordingSubscriber>) {
        self.clientID = ClientID(client)!
        self.topics = topics.map { TopicName($0)! }
        self.queue = queue
    }
}

/// Collects deliveries per subscriber, and counts batches (one per queue per publish).
final class Recorder: Sendable {
    let frames = Mutex<[ObjectIdentifier: [String]]>([:])
    let batches = Mutex(0)

    func makeQueue() -> DeliveryQueue<RecordingSubscriber> {
        DeliveryQueue { batch in
            self.batches.withLock { $0 += 1 }
            self.frames.withLock { frames in
                for delivery in batch {
                    frames[ObjectIdentifier(delivery.subscriber), default: []].append(String(buffer: delivery.frame))
                }
            }
        }
    }

    func received(by subscriber: RecordingSubscriber) -> [String] {
        frames.withLock { $0[ObjectIdentifier(subscriber)] ?? [] }
    }
}

@Suite struct HubTests {
    let recorder = Recorder()
    let hub = Hub<RecordingSubscriber>(history: .init(), epoch: 5, now: { 0 })

    func publish(_ data: String, to target: Target) -> Hub<RecordingSubscriber>.Receipt {
        hub.publish([Publication(target: target, event: Event(data: data))])[0]
    }

    @Test func everyTabOfAClientGetsEachEventOnce() {
        let queue = recorder.makeQueue()
        let tab1 = RecordingSubscriber("42", queue: queue)
        let tab2 = RecordingSubscriber("42", queue: queue)
        let other = RecordingSubscriber("43", queue: queue)
        for subscriber in [tab1, tab2, other] { _ = hub.open(subscriber, lastEventID: nil, retry: 1000) }

        let receipt = publish("hi", to: .client(ClientID("42")!))
        #expect(receipt.delivered == 2)
        #expect(receipt.id == EventID(epoch: 5, sequence: 1))
        #expect(recorder.received(by: tab1) == ["id: 5-1\ndata: hi\n\n"])
        #expect(recorder.received(by: tab2) == ["id: 5-1\ndata: hi\n\n"])
        #expect(recorder.received(by: other) == [])
    }

    @Test func oneBatchPerQueuePerPublishCall() {
        let loopA = recorder.makeQueue()
        let loopB = recorder.makeQueue()
        let subscribers = (0..<10).map { RecordingSubscriber("c\($0)", topics: ["news"], queue: $0.isMultiple(of: 2) ? loopA : loopB) }
        for subscriber in subscribers { _ = hub.open(subscriber, lastEventID: nil, retry: 1000) }
        let receipts = hub.publish((0..<5).map { Publication(target: .topic(TopicName("news")!), event: Event(data: "\($0)")) })
        #expect(receipts.map(\.delivered) == [10, 10, 10, 10, 10])
        #expect(recorder.batches.withLock { $0 } == 2)
        #expect(recorder.received(by: subscribers[3]).count == 5)
    }

    @Test func openWithoutCursorSendsTheCurrentCursor() {
        _ = publish("before", to: .client(ClientID("x")!))
        let subscriber = RecordingSubscriber("42", queue: recorder.makeQueue())
        let opening = hub.open(subscriber, lastEventID: nil, retry: 1000)
        #expect(opening.frames.map { String(buffer: $0) } == ["retry: 1000\n: sse-relay stream open\nid: 5-1\n\n"])
    }

    @Test func reopenReplaysMissedClientAndTopicEventsInOrder() {
        let queue = recorder.makeQueue()
        let first = RecordingSubscriber("42", topics: ["news"], queue: queue)
        _ = hub.open(first, lastEventID: nil, retry: 1000)
        _ = publish("a", to: .client(ClientID("42")!))
        hub.close(first)
        _ = publish("b", to: .topic(TopicName("news")!))
        _ = publish("other", to: .client(ClientID("43")!))
        _ = publish("c", to: .client(ClientID("42")!))

        let second = RecordingSubscriber("42", topics: ["news"], queue: queue)
        let opening = hub.open(second, lastEventID: "5-1", retry: 1000)
        #expect(opening.replayed == 2)
        #expect(opening.frames.dropFirst().map { String(buffer: $0) } == ["id: 5-2\ndata: b\n\n", "id: 5-4\ndata: c\n\n"])
        // Live events after the open come through the queue, after the replay.
        _ = publish("d", to: .client(ClientID("42")!))
        #expect(recorder.received(by: second) == ["id: 5-5\ndata: d\n\n"])
    }

    @Test(arguments: [
        ("garbage", "malformed_cursor"),
        ("6-1", "unknown_cursor"),  // another epoch: a previous run
        ("5-99", "unknown_cursor"),  // from the future
    ])
    func unusableCursorsGetOneReset(cursor: String, reason: String) {
        _ = publish("a", to: .client(ClientID("42")!))
        let subscriber = RecordingSubscriber("42", queue: recorder.makeQueue())
        let opening = hub.open(subscriber, lastEventID: cursor, retry: 1000)
        #expect(opening.resetReason == reason)
        #expect(opening.frames.count == 2)
        #expect(String(buffer: opening.frames[1]).hasPrefix("id: 5-1\nevent: sse-relay.reset\n"))
    }

    @Test func cursorOlderThanTheWindowGetsAReset() {
        let hub = Hub<RecordingSubscriber>(history: .init(eventsPerStream: 2), epoch: 5, now: { 0 })
        for index in 1...5 { _ = hub.publish([Publication(target: .client(ClientID("42")!), event: Event(data: "\(index)"))]) }
        let opening = hub.open(RecordingSubscriber("42", queue: recorder.makeQueue()), lastEventID: "5-1", retry: 1000)
        #expect(opening.resetReason == "cursor_too_old")
    }

    @Test func closeRemovesAndReportsTheLastConnection() {
        let queue = recorder.makeQueue()
        let tab1 = RecordingSubscriber("42", queue: queue)
        let tab2 = RecordingSubscriber("42", queue: queue)
        _ = hub.open(tab1, lastEventID: nil, retry: 0)
        _ = hub.open(tab2, lastEventID: nil, retry: 0)
        #expect(hub.close(tab1) == false)
        #expect(hub.close(tab1) == false)  // twice is harmless
        #expect(hub.close(tab2) == true)
        #expect(hub.statistics.connections == 0)
        #expect(publish("x", to: .client(ClientID("42")!)).delivered == 0)
    }
}

@Suite struct SubscriberTableTests {
    @Test func topicsAndClientsAreIndexedAndCleanedUp() {
        let queue = Recorder().makeQueue()
        var table = SubscriberTable<RecordingSubscriber>()
        let a = RecordingSubscriber("a", topics: ["t1", "t2"], queue: queue)
        let b = RecordingSubscriber("b", topics: ["t1"], queue: queue)
        let firstA = table.insert(a)
        let firstB = table.insert(b)
        #expect(firstA && firstB)
        #expect(table.subscriberCount(of: .topic(TopicName("t1")!)) == 2)
        let lastA = table.remove(a)
        #expect(lastA)
        #expect(table.subscriberCount(of: .topic(TopicName("t1")!)) == 1)
        #expect(table.topicCount == 1)
        let lastB = table.remove(b)
        #expect(lastB)
        #expect(table.topicCount == 0 && table.clientCount == 0 && table.connectionCount == 0)
    }
}
