/// Per-client token buckets: each client id may publish `rate` events a second on average,
/// with bursts of up to `burst`. Pure value type; the caller supplies the clock.
///
/// Memory is bounded: a bucket that has refilled completely is the same as no bucket, so
/// when the table reaches `capacity` those idle buckets are forgotten without changing any
/// answer. If every bucket is still in use, a new client id is admitted untracked (fail
/// open) rather than evicting a busy one — a flood of distinct ids cannot turn the limiter
/// into an unbounded table, and it cannot make it refuse legitimate publishers either.
public struct TokenBuckets: Sendable {
    public struct Configuration: Sendable, Equatable {
        /// Events per second, on average, per client id.
        public var rate: Double
        /// Events a client id may send at once after being idle.
        public var burst: Double
        /// Client ids tracked at most.
        public var capacity: Int

        public init(rate: Double, burst: Double, capacity: Int = 100_000) {
            self.rate = rate
            self.burst = max(1, burst)
            self.capacity = max(1, capacity)
        }
    }

    private struct Bucket {
        var tokens: Double
        var updated: UInt64
    }

    private var buckets: [ClientID: Bucket] = [:]

    public init() {}

    /// Clients currently tracked.
    public var count: Int { buckets.count }

    /// Takes one token for `client` at `now` (nanoseconds on a monotonic clock); `false`
    /// means the client is over its rate and the event should not go out.
    public mutating func admit(_ client: ClientID, now: UInt64, configuration: Configuration) -> Bool {
        if var bucket = buckets[client] {
            bucket.tokens = refilled(bucket, now: now, configuration: configuration)
            bucket.updated = now
            guard bucket.tokens >= 1 else {
                buckets[client] = bucket
                return false
            }
            bucket.tokens -= 1
            buckets[client] = bucket
            return true
        }
        if buckets.count >= configuration.capacity {
            evictIdle(now: now, configuration: configuration)
            guard buckets.count < configuration.capacity else { return true }
        }
        buckets[client] = Bucket(tokens: configuration.burst - 1, updated: now)
        return true
    }

    /// Forgets every bucket that is full again (it would answer exactly as a new one).
    public mutating func evictIdle(now: UInt64, configuration: Configuration) {
        buckets = buckets.filter { refilled($0.value, now: now, configuration: configuration) < configuration.burst }
    }

    private func refilled(_ bucket: Bucket, now: UInt64, configuration: Configuration) -> Double {
        let elapsed = Double(now &- bucket.updated) / 1_000_000_000
        guard now > bucket.updated else { return bucket.tokens }
        return min(configuration.burst, bucket.tokens + elapsed * configuration.rate)
    }
}
