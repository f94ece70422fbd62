import Synchronization

/// Runs a Lua script by its SHA (EVALSHA), loading it when Redis does not know it yet or
/// forgot it (a restart, a failover to a replica that never saw it).
///
/// Loading goes in the same round trip as the call (`SCRIPT LOAD` + `EVAL`), so a call
/// keeps its place in the client's order. The one exception: a call answered `NOSCRIPT`
/// (Redis lost its scripts since the last call) is sent again behind whatever was submitted
/// meanwhile.
final class RedisScriptRunner: Sendable {
    private let client: RedisClient
    private let source: String
    private let sha = Mutex<String?>(nil)

    init(client: RedisClient, source: String) {
        self.client = client
        self.source = source
    }

    func run(_ arguments: [[UInt8]]) async throws -> RedisValue {
        try await withCheckedThrowingContinuation { continuation in
            submit(building: { arguments }) { continuation.resume(with: $0) }
        }
    }

    /// Queues a call in the client's order, with arguments made on the worker thread right
    /// before it is sent (see ``RedisClient/submit(building:completion:)``); `build` may be
    /// asked again if Redis has to be given the script first. `completion` runs as the
    /// client's does.
    func submit(building build: @escaping @Sendable () -> [[UInt8]], completion: @escaping @Sendable (Result<RedisValue, any Error>) -> Void) {
        guard let known = sha.withLock({ $0 }) else {
            submitLoading(build, completion: completion)
            return
        }
        client.submit(building: { [RedisCommand([Array("EVALSHA".utf8), Array(known.utf8), Array("0".utf8)] + build())] }) { result in
            switch result {
            case .success(let replies) where replies[0].errorMessage?.hasPrefix("NOSCRIPT") == true:
                self.submitLoading(build, completion: completion)
            case .success(let replies):
                completion(.success(replies[0]))
            case .failure(let error):
                completion(.failure(error))
            }
        }
    }

    private func submitLoading(_ build: @escaping @Sendable () -> [[UInt8]], completion: @escaping @Sendable (Result<RedisValue, any Error>) -> Void) {
        let source = self.source
        let commands: @Sendable () -> [RedisCommand] = {
            [RedisCommand("SCRIPT", "LOAD", source), RedisCommand([Array("EVAL".utf8), Array(source.utf8), Array("0".utf8)] + build())]
        }
        client.submit(building: commands) { result in
            switch result {
            case .success(let replies):
                if let loaded = replies[0].string, replies[0].errorMessage == nil {
                    self.sha.withLock { $0 = loaded }
                }
                completion(.success(replies[1]))
            case .failure(let error):
                completion(.failure(error))
            }
        }
    }
}
