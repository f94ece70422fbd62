import Logging
import RelayCore
import Synchronization
import Testing

@testable import RelayRedis

@Suite(.enabled(if: TestRedis.available, "set SSE_RELAY_TEST_REDIS_URL (Tests/run starts a private redis-server)"))
struct RedisRegistryTests {
    func registry(_ client: RedisClient, node: String = "a", ttl: Duration = .seconds(15)) -> RedisRegistry {
        RedisRegistry(
            client: client,
            configuration: .init(nodeID: node, advertisedAddress: "127.0.0.1:1", queue: "q.\(node)", version: "test", heartbeat: .milliseconds(100), ttl: ttl),
            logger: Logger(label: "test")
        )
    }

    func fields(_ client: RedisClient, _ key: String) async throws -> [String] {
        try await client.send(RedisCommand("HKEYS", client.configuration.keyPrefix + key)).array?.compactMap(\.string).sorted() ?? []
    }

    @Test func connectsAndDisconnectsFollowTheHub() async throws {
        let client = try await TestRedis.client()
        defer { client.shutdown() }
        let registry = registry(client)
        let hub = FakeMembership()
        try await registry.announce(hub)
        let running = Task { await registry.run() }
        defer { running.cancel() }

        hub.clients.insert(ClientID("42")!)
        hub.topics.insert(TopicName("news")!)
        registry.changed(MembershipChange(client: ClientID("42")!, topics: [TopicName("news")!]))
        try await waitUntil("client 42 and topic news are registered") {
            let clientNodes = try await fields(client, "client:42")
            let topicNodes = try await fields(client, "topic:news")
            return clientNodes == ["a"] && topicNodes == ["a"]
        }
        hub.clients.remove(ClientID("42")!)
        registry.changed(MembershipChange(client: ClientID("42")!, topics: []))
        try await waitUntil("client 42 is deregistered") { try await fields(client, "client:42").isEmpty }

        let nodes = try await registry.nodes()
        #expect(nodes.map(\.id) == ["a"] && nodes[0].queue == "q.a" && nodes[0].started == registry.started)
    }

    /// `registered` returns only once the entries are in Redis: what a stream waits for
    /// before it tells the browser it is open.
    @Test func registeredReturnsOnceTheEntriesAreWritten() async throws {
        let client = try await TestRedis.client()
        defer { client.shutdown() }
        let registry = registry(client, node: "waiter")
        let hub = FakeMembership()
        try await registry.announce(hub)
        let running = Task { await registry.run() }
        defer { running.cancel() }

        for index in 0..<20 {
            let id = ClientID("w\(index)")!
            let topic = TopicName("t\(index)")!
            hub.clients.insert(id)
            hub.topics.insert(topic)
            let change = MembershipChange(client: id, topics: [topic])
            registry.changed(change)
            await registry.registered(change)
            #expect(try await fields(client, "client:w\(index)") == ["waiter"])
            #expect(try await fields(client, "topic:t\(index)") == ["waiter"])
        }
        // Already written: no wait.
        await registry.registered(MembershipChange(client: ClientID("w0")!, topics: []))
    }

    /// A stream bounds its wait for the route by cancelling it: the wait must end then,
    /// even though no flush ever carries the key.
    @Test func registeredReturnsWhenItsTaskIsCancelled() async throws {
        let client = try await TestRedis.client()
        defer { client.shutdown() }
        let registry = registry(client, node: "stuck")
        try await registry.announce(FakeMembership())
        // run() is not started: nothing will flush the key.
        let change = MembershipChange(client: ClientID("s")!, topics: [])
        registry.changed(change)
        let returned = Mutex(false)
        let waiting = Task {
            await registry.registered(change)
            returned.withLock { $0 = true }
        }
        waiting.cancel()
        try await waitUntil("the cancelled wait returns", timeout: .seconds(5)) { returned.withLock { $0 } }
    }

    @Test func entriesOfAStoppedNodeExpireByThemselves() async throws {
        let client = try await TestRedis.client()
        defer { client.shutdown() }
        // Long enough that the first check sees the entry on a loaded machine (the whole
        // suite starts at once), short enough that expiry is quick to wait for.
        let registry = registry(client, node: "crashy", ttl: .milliseconds(2000))
        let hub = FakeMembership()
        hub.clients.insert(ClientID("7")!)
        try await registry.announce(hub)
        #expect(try await fields(client, "client:7") == ["crashy"])
        // No heartbeats (run() never started): as after a SIGKILL.
        try await waitUntil("the entries expire", timeout: .seconds(10)) {
            let nodes = try await fields(client, "client:7")
            let live = try await registry.nodes()
            return nodes.isEmpty && live.isEmpty
        }
    }

    @Test func heartbeatReRegistersAfterRedisLosesEverything() async throws {
        let client = try await TestRedis.client()
        defer { client.shutdown() }
        let registry = registry(client)
        let hub = FakeMembership()
        hub.clients.insert(ClientID("9")!)
        try await registry.announce(hub)
        let running = Task { await registry.run() }
        defer { running.cancel() }
        let prefix = client.configuration.keyPrefix
        _ = try await client.send([RedisCommand("DEL", prefix + "client:9"), RedisCommand("DEL", prefix + "node:a")])
        try await waitUntil("the heartbeat puts them back") {
            let nodes = try await fields(client, "client:9")
            let live = try await registry.nodes()
            return nodes == ["a"] && live.count == 1
        }
    }

    @Test func deregisterRemovesTheNodeAndItsEntries() async throws {
        let client = try await TestRedis.client()
        defer { client.shutdown() }
        let registry = registry(client)
        let hub = FakeMembership()
        hub.clients.insert(ClientID("5")!)
        try await registry.announce(hub)
        await registry.deregister()
        #expect(try await fields(client, "client:5").isEmpty)
        #expect(try await registry.nodes().isEmpty)
    }
}
