import Logging
import NIOCore
import RelayCore
import Testing

@testable import RelayRedis

/// Redis content is not trusted blindly: garbage written into the relay's keys (by hand, by
/// another program, by a bug) is skipped or replaced, and publishing and routing go on.
@Suite(.enabled(if: TestRedis.available, "set SSE_RELAY_TEST_REDIS_URL (Tests/run starts a private redis-server)"))
struct RedisMalformedContentTests {
    let alice = Target.client(ClientID("alice")!)
    let news = Target.topic(TopicName("news")!)

    func body(_ data: String) -> ByteBuffer { SSEEncoder.body(Event(data: data)) }

    @Test func publishingSkipsWrongTypesAndGarbageRoutes() async throws {
        let client = try await TestRedis.client()
        defer { client.shutdown() }
        let prefix = client.configuration.keyPrefix
        _ = try await client.send([
            RedisCommand("SET", prefix + "client:alice", "garbage"),  // a route that is not a hash
            RedisCommand("SET", prefix + "node:b", "garbage"),  // a node that is not a hash
            RedisCommand("HSET", prefix + "topic:news", "b", "7", "\u{0}\u{FF}", "not-an-epoch", "c", ""),
            RedisCommand("LPUSH", prefix + "history:c:alice", "garbage"),  // history that is not a stream
            RedisCommand("XADD", prefix + "history:t:news", "999999999-0", "f", "from the future"),
        ])
        let store = RedisEventStore(client: client, configuration: .init(nodeID: "a", historySize: 100, historyAge: .seconds(300)))
        let stamps = try await store.stamp([(alice, body("1")), (news, body("2")), (alice, body("3"))])
        #expect(stamps.map(\.id.sequence) == [1, 2, 3])
        #expect(stamps.allSatisfy { $0.nodes.isEmpty }, "no garbage entry counts as a live node")
        #expect(try await client.send(RedisCommand("TYPE", prefix + "client:alice")).string == "none", "the bad route is gone")
        #expect(try await client.send(RedisCommand("HKEYS", prefix + "topic:news")).array?.isEmpty == true, "dead entries are dropped")

        // History was replaced by a stream the relay wrote, so replay works again.
        let opening = await store.opening(client: ClientID("alice")!, topics: [TopicName("news")!], lastEventID: stamps[0].id.description)
        #expect(opening.reset == nil)
        #expect(opening.frames.map(\.sequence) == [2, 3])
    }

    @Test func replayIgnoresHistoryKeysOfTheWrongType() async throws {
        let client = try await TestRedis.client()
        defer { client.shutdown() }
        let prefix = client.configuration.keyPrefix
        let store = RedisEventStore(client: client, configuration: .init(nodeID: "a", historySize: 100, historyAge: .seconds(300)))
        let stamps = try await store.stamp([(news, body("1")), (news, body("2"))])
        _ = try await client.send(RedisCommand("SET", prefix + "history:c:alice", "garbage"))
        let opening = await store.opening(client: ClientID("alice")!, topics: [TopicName("news")!], lastEventID: stamps[0].id.description)
        #expect(opening.reset == nil)
        #expect(opening.frames.map(\.sequence) == [2])
    }

    @Test func heartbeatReplacesRegistryKeysOfTheWrongType() async throws {
        let client = try await TestRedis.client()
        defer { client.shutdown() }
        let prefix = client.configuration.keyPrefix
        let registry = RedisRegistry(
            client: client,
            configuration: .init(nodeID: "a", advertisedAddress: "127.0.0.1:1", queue: "q.a", version: "test", heartbeat: .milliseconds(100)),
            logger: Logger(label: "test")
        )
        let hub = FakeMembership()
        hub.clients.insert(ClientID("alice")!)
        _ = try await client.send([
            RedisCommand("SET", prefix + "client:alice", "garbage"),
            RedisCommand("SET", prefix + "node:a", "garbage"),
            RedisCommand("SET", prefix + "nodes", "garbage"),
        ])
        try await registry.announce(hub)
        let running = Task { await registry.run() }
        defer { running.cancel() }
        try await waitUntil("the heartbeat replaces the garbage") {
            let holders = try await client.send(RedisCommand("HKEYS", prefix + "client:alice")).array?.compactMap(\.string)
            let nodes = try await registry.nodes()
            return holders == ["a"] && nodes.map(\.id) == ["a"]
        }
        let ttl = try await client.send(RedisCommand("PTTL", prefix + "client:alice")).integer ?? -1
        #expect(ttl > 0, "a repaired entry still expires by itself")
    }
}
