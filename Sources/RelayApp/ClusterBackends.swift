import Foundation
import Logging
import RelayAMQP
import RelayRedis
import ServiceLifecycle

/// The cluster's backend connections as one service: keeps the registry's heartbeats and
/// flushes running, and on shutdown leaves the registry before closing the connections.
final class ClusterBackends: Service {
    let redis: RedisClient
    let registry: RedisRegistry
    let forwarder: AMQPForwarder
    let consumer: AMQPConsumer
    let logger: Logger
    /// The consumer delivers forwarded events from the moment it is connected: before the
    /// service group starts, so the node is reachable once it is announced.
    private let consuming: Task<Void, Never>

    /// Starts the Redis worker, the forwarder and the consumer.
    init(redis: RedisClient, registry: RedisRegistry, forwarder: AMQPForwarder, consumer: AMQPConsumer, logger: Logger) {
        self.redis = redis
        self.registry = registry
        self.forwarder = forwarder
        self.consumer = consumer
        self.logger = logger
        redis.start()
        forwarder.start()
        consuming = Task { await consumer.run() }
    }

    /// Start-up waits for both backends: a node that cannot reach them must not look
    /// ready. The error names what is unreachable.
    func waitUntilConnected(timeout: Duration, redisEndpoint: String, amqpURLs: [String]) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if redis.isConnected, forwarder.isConnected, consumer.isConnected { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        var missing: [String] = []
        if !redis.isConnected { missing.append("Redis at \(redisEndpoint) (\(redis.lastError ?? "no answer"))") }
        if !forwarder.isConnected || !consumer.isConnected {
            missing.append("RabbitMQ at \(amqpURLs.map { (try? AMQPURL(parsing: $0))?.description ?? "amqp://***" }.joined(separator: ", "))")
        }
        throw ClusterStartError(description: "cannot reach \(missing.joined(separator: " and ")) within \(timeout)")
    }

    func run() async throws {
        // Heartbeats go on until shutdown begins; then the node leaves the registry first,
        // so other nodes stop routing here while streams are still being closed.
        await cancelWhenGracefulShutdown {
            await self.registry.run()
        }
        await registry.deregister()
        await shutdown()
    }

    /// Stops consuming, then joins the worker threads off the concurrency pool (their
    /// shutdown blocks briefly).
    func shutdown() async {
        consumer.shutdown()
        await consuming.value
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let thread = Thread { [self] in
                forwarder.shutdown()
                redis.shutdown()
                continuation.resume()
            }
            thread.start()
        }
    }
}

struct ClusterStartError: Error, CustomStringConvertible {
    var description: String
}
