import Synchronization

/// New connections per second per remote address: a token bucket each, in bounded memory.
///
/// A bucket that has refilled completely holds no information, so it is dropped; when the
/// table is still full, new addresses share one overflow bucket (an attack from very many
/// addresses is then limited as a whole rather than growing memory without bound).
public final class ConnectRateLimiter: Sendable {
    public struct Configuration: Sendable, Equatable {
        /// Tokens added per second (sustained rate); 0 disables the limit.
        public var ratePerSecond: Double
        /// Bucket size (burst).
        public var burst: Double
        /// Addresses tracked at once.
        public var maxAddresses: Int

        public init(ratePerSecond: Double = 20, burst: Double = 40, maxAddresses: Int = 65536) {
            self.ratePerSecond = ratePerSecond
            self.burst = burst
            self.maxAddresses = maxAddresses
        }
    }

    struct Bucket {
        var tokens: Double
        var updated: Double
    }

    struct State {
        var buckets: [String: Bucket] = [:]
        var overflow = Bucket(tokens: 0, updated: 0)
        var lastSweep: Double = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// Takes a token for `address` at time `now` (seconds, monotonic). Returns `nil` when
    /// admitted, or the seconds to wait before a token is back.
    public func acquire(_ address: String, now: Double, configuration: Configuration) -> Int? {
        guard configuration.ratePerSecond > 0 else { return nil }
        return state.withLock { (state: inout State) -> Int? in
            if now - state.lastSweep > 1 || state.buckets.count >= configuration.maxAddresses {
                Self.sweep(&state, now: now, configuration: configuration)
            }
            if state.buckets[address] == nil, state.buckets.count >= configuration.maxAddresses {
                return Self.take(&state.overflow, now: now, configuration: configuration)
            }
            var bucket = state.buckets[address] ?? Bucket(tokens: configuration.burst, updated: now)
            let wait = Self.take(&bucket, now: now, configuration: configuration)
            state.buckets[address] = bucket
            return wait
        }
    }

    /// Tracked addresses (for tests and status).
    public var count: Int { state.withLock { $0.buckets.count } }

    private static func take(_ bucket: inout Bucket, now: Double, configuration: Configuration) -> Int? {
        bucket.tokens = min(configuration.burst, bucket.tokens + (now - bucket.updated) * configuration.ratePerSecond)
        bucket.updated = now
        if bucket.tokens >= 1 {
            bucket.tokens -= 1
            return nil
        }
        return max(1, Int(((1 - bucket.tokens) / configuration.ratePerSecond).rounded(.up)))
    }

    private static func sweep(_ state: inout State, now: Double, configuration: Configuration) {
        state.lastSweep = now
        state.buckets = state.buckets.filter { _, bucket in
            bucket.tokens + (now - bucket.updated) * configuration.ratePerSecond < configuration.burst
        }
    }
}
