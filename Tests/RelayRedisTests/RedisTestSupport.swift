import Foundation
import Logging
import RelayCore
import Testing

@testable import RelayRedis

/// The private redis-server `Tests/run` starts; the suites are disabled (with this reason
/// shown) when it is not given.
enum TestRedis {
    static let url = ProcessInfo.processInfo.environment["SSE_RELAY_TEST_REDIS_URL"]
    static var available: Bool { url != nil }

    /// A client on its own key prefix, so tests never see each other's keys.
    static func client(prefix: String = "test-\(UUID().uuidString.prefix(8)):", onConnect: @escaping @Sendable () -> Void = {}) async throws -> RedisClient {
        var configuration = try RedisConfiguration(url: url!, keyPrefix: prefix)
        configuration.timeout = .seconds(2)
        let client = RedisClient(configuration: configuration, logger: Logger(label: "test"), onConnect: onConnect)
        client.start()
        try await waitUntil("Redis connects") { client.isConnected }
        return client
    }
}

/// Polls `condition` until it holds or the deadline passes (then the test fails).
func waitUntil(_ what: String, timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    Issue.record("timed out after \(timeout) waiting until \(what)")
    throw CancellationError()
}

/// A hub stand-in: which clients and topics this "node" holds.
final class FakeMembership: LocalMembership, @unchecked Sendable {
    // Only touched from the test's task; the registry reads it from its own tasks while the
    // test awaits, never concurrently with a write.
    var clients: Set<ClientID> = []
    var topics: Set<TopicName> = []

    func holds(_ client: ClientID) -> Bool { clients.contains(client) }
    func holds(_ topic: TopicName) -> Bool { topics.contains(topic) }
    var membership: (clients: [ClientID], topics: [TopicName]) { (Array(clients), Array(topics)) }
    var connectionCount: Int { clients.count }
}
