import Logging
import Testing

@testable import RelayRedis

@Suite(.enabled(if: TestRedis.available, "set SSE_RELAY_TEST_REDIS_URL (Tests/run starts a private redis-server)"))
struct RedisClientTests {
    @Test func pipelinesCommandsAndKeepsRepliesInOrder() async throws {
        let client = try await TestRedis.client()
        defer { client.shutdown() }
        let key = client.configuration.keyPrefix + "n"
        let replies = try await client.send([
            RedisCommand("SET", key, "1"), RedisCommand("INCR", key), RedisCommand("GET", key), RedisCommand("NOSUCHCOMMAND"),
        ])
        #expect(replies[0] == .status("OK"))
        #expect(replies[1] == .integer(2))
        #expect(replies[2].string == "2")
        #expect(replies[3].errorMessage != nil, "an error reply fails that command only")
        #expect(try await client.send(RedisCommand("DEL", key)) == .integer(1))
    }

    @Test func concurrentCallersAllGetTheirOwnReplies() async throws {
        let client = try await TestRedis.client()
        defer { client.shutdown() }
        let key = client.configuration.keyPrefix + "counter"
        let values = try await withThrowingTaskGroup(of: Int64.self) { group in
            for _ in 0..<200 {
                group.addTask { try await client.send(RedisCommand("INCR", key)).integer ?? -1 }
            }
            return try await group.reduce(into: [Int64]()) { $0.append($1) }
        }
        #expect(Set(values) == Set(1...200))
    }

    @Test func unreachableServerFailsFastAsUnavailable() async throws {
        let client = RedisClient(configuration: try RedisConfiguration(url: "redis://127.0.0.1:1"), logger: Logger(label: "test"))
        client.start()
        defer { client.shutdown() }
        await #expect(throws: RedisError.self) { try await client.send(RedisCommand("PING")) }
    }

    @Test func urlParsing() throws {
        let full = try RedisConfiguration(url: "redis://app:s%40cret@db.example:6380/3")
        #expect(full.endpoint == .direct(host: "db.example", port: 6380))
        #expect(full.username == "app" && full.password == "s@cret" && full.database == 3)
        let passwordOnly = try RedisConfiguration(url: "redis://:secret@localhost")
        #expect(passwordOnly.username == nil && passwordOnly.password == "secret" && passwordOnly.endpoint == .direct(host: "localhost", port: 6379))
        #expect(throws: RedisError.self) { try RedisConfiguration(url: "http://localhost") }
        #expect(throws: RedisError.self) { try RedisConfiguration(url: "redis://localhost/x") }
        #expect(RedisConfiguration.masked("redis://u:secret@h:1/0") == "redis://u:***@h:1/0")
    }
}
