import Synchronization

/// Runs a Lua script by its SHA (EVALSHA), loading it when Redis does not know it yet or
/// forgot it (a restart, a failover to a replica that never saw it).
final class RedisScriptRunner: Sendable {
    private let client: RedisClient
    private let source: String
    private let sha = Mutex<String?>(nil)

    init(client: RedisClient, source: String) {
        self.client = client
        self.source = source
    }

    func run(_ arguments: [[UInt8]]) async throws -> RedisValue {
        for attempt in 0..<2 {
            let known = try await loadedSHA(reload: attempt > 0)
            let reply = try await client.send(RedisCommand([Array("EVALSHA".utf8), Array(known.utf8), Array("0".utf8)] + arguments))
            if reply.errorMessage?.hasPrefix("NOSCRIPT") == true { continue }
            return reply
        }
        throw RedisError.unavailable("Redis keeps forgetting the relay's script")
    }

    private func loadedSHA(reload: Bool) async throws -> String {
        if !reload, let known = sha.withLock({ $0 }) { return known }
        let reply = try await client.send(RedisCommand("SCRIPT", "LOAD", source))
        guard let loaded = reply.string, reply.errorMessage == nil else {
            throw RedisError.unavailable("cannot load script: \(reply.errorMessage ?? "unexpected reply")")
        }
        sha.withLock { $0 = loaded }
        return loaded
    }
}
