import Logging
import NIOCore
import RelayCore
import Synchronization
import Testing

@testable import RelayRedis

@Suite(.enabled(if: TestRedis.available, "set SSE_RELAY_TEST_REDIS_URL (Tests/run starts a private redis-server)"))
struct RedisEventStoreTests {
    func store(_ client: RedisClient, node: String = "a", size: Int = 100, age: Duration = .seconds(300)) -> RedisEventStore {
        RedisEventStore(client: client, configuration: .init(nodeID: node, historySize: size, historyAge: age))
    }

    func body(_ data: String) -> ByteBuffer { SSEEncoder.body(Event(data: data)) }
    let alice = Target.client(ClientID("alice")!)
    let news = Target.topic(TopicName("news")!)

    @Test func idsIncreaseAcrossStreamsAndReplayMergesThem() async throws {
        let client = try await TestRedis.client()
        defer { client.shutdown() }
        let store = store(client)
        let stamps = try await store.stamp([(alice, body("1")), (news, body("2")), (alice, body("3"))])
        #expect(stamps.map(\.id.sequence) == [1, 2, 3])
        #expect(Set(stamps.map(\.id.epoch)).count == 1)

        let opening = await store.opening(client: ClientID("alice")!, topics: [TopicName("news")!], lastEventID: stamps[0].id.description)
        #expect(opening.reset == nil)
        #expect(opening.frames.map(\.sequence) == [2, 3])
        let expected = SSEEncoder.frame(Event(data: "3"), id: stamps[2].id)
        #expect(opening.frames.last?.frame == expected, "Redis stores exactly the frame local subscribers get")
        #expect(opening.head == stamps[2].id)
    }

    /// What a publisher pipelining gets: calls made one after another, without waiting,
    /// each get their ids in call order, none lost (calls in flight together share script
    /// calls, whose answers are split back per call).
    @Test func stampsSubmittedWithoutWaitingKeepTheirOrder() async throws {
        let client = try await TestRedis.client()
        defer { client.shutdown() }
        let store = store(client)
        let results = Results()
        for index in 0..<300 {
            let events = index % 3 == 0 ? [(alice, body("\(index)a")), (news, body("\(index)b"))] : [(alice, body("\(index)"))]
            store.submitStamp(events) { result in results.add(index, result) }
        }
        try await waitUntil("every call is answered") { results.count == 300 }
        let sequences = try results.inCallOrder().flatMap { try $0.get().map(\.id.sequence) }
        #expect(sequences == Array(1...UInt64(sequences.count)) && sequences.count == 400)
    }

    @Test func stampsWaitingWhenTheClientStopsAreFailedNotLost() async throws {
        let client = try await TestRedis.client()
        let store = store(client)
        client.shutdown()
        let results = Results()
        for index in 0..<5 { store.submitStamp([(alice, body("\(index)"))]) { results.add(index, $0) } }
        try await waitUntil("every call is answered") { results.count == 5 }
        #expect(results.inCallOrder().allSatisfy { if case .failure = $0 { true } else { false } })
    }

    @Test func streamWithoutCursorLearnsTheHead() async throws {
        let client = try await TestRedis.client()
        defer { client.shutdown() }
        let store = store(client)
        let stamps = try await store.stamp([(alice, body("x"))])
        let opening = await store.opening(client: ClientID("bob")!, topics: [], lastEventID: nil)
        #expect(opening.head == stamps[0].id && opening.frames.isEmpty && opening.reset == nil)
    }

    @Test func capAgeEpochAndMalformedCursorsReset() async throws {
        let client = try await TestRedis.client()
        defer { client.shutdown() }
        let store = store(client, size: 3)
        var stamps: [RedisEventStore.Stamp] = []
        for index in 0..<6 { stamps += try await store.stamp([(alice, body("\(index)"))]) }
        let bob = ClientID("alice")!
        #expect(await store.opening(client: bob, topics: [], lastEventID: stamps[1].id.description).reset == "cursor_too_old")
        #expect(await store.opening(client: bob, topics: [], lastEventID: stamps[2].id.description).frames.count == 3)
        #expect(await store.opening(client: bob, topics: [], lastEventID: "garbage").reset == "malformed_cursor")
        #expect(await store.opening(client: bob, topics: [], lastEventID: "1-1").reset == "unknown_cursor")
        let future = EventID(epoch: stamps[0].id.epoch, sequence: 999)
        #expect(await store.opening(client: bob, topics: [], lastEventID: future.description).reset == "unknown_cursor")

        // A cursor older than the age window cannot be proven complete.
        let young = self.store(client, size: 3, age: .milliseconds(200))
        let first = try await young.stamp([(alice, body("old"))])[0]
        try await waitUntil("the window passes") {
            _ = try await young.stamp([(news, body("later"))])
            return await young.opening(client: bob, topics: [], lastEventID: first.id.description).reset == "cursor_too_old"
        }
    }

    @Test func routesListOtherLiveNodesAndDropGhosts() async throws {
        let client = try await TestRedis.client()
        defer { client.shutdown() }
        let prefix = client.configuration.keyPrefix
        // Node b is live with start epoch 7; node c's entry names an epoch it no longer has.
        _ = try await client.send([
            RedisCommand("HSET", prefix + "node:b", "started", "7"),
            RedisCommand("HSET", prefix + "node:c", "started", "9"),
            RedisCommand("HSET", prefix + "client:alice", "a", "1", "b", "7", "c", "8", "d", "5"),
        ])
        let stamps = try await store(client, node: "a").stamp([(alice, body("x"))])
        #expect(stamps[0].nodes == ["b"], "self is local, c restarted (ghost), d is gone")
        let left = try await client.send(RedisCommand("HKEYS", prefix + "client:alice")).array?.compactMap(\.string).sorted()
        #expect(left == ["a", "b"])
    }
}

/// Completions of stamp calls, by call index, from whatever thread they arrive on.
private final class Results: Sendable {
    private let byIndex = Mutex<[Int: Result<[RedisEventStore.Stamp], any Error>]>([:])

    func add(_ index: Int, _ result: Result<[RedisEventStore.Stamp], any Error>) {
        byIndex.withLock { $0[index] = result }
    }

    var count: Int { byIndex.withLock { $0.count } }

    func inCallOrder() -> [Result<[RedisEventStore.Stamp], any Error>] {
        byIndex.withLock { results in results.keys.sorted().map { results[$0]! } }
    }
}
