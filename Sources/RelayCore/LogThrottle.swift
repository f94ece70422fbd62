/// At most one log line per `interval` for a recurring problem, with the count of the ones
/// held back, so garbage arriving in a loop cannot flood the journal. Pure; the caller
/// supplies a monotonic clock in nanoseconds.
public struct LogThrottle: Sendable {
    public let interval: UInt64
    fileprivate var lastLogged: UInt64?
    private var suppressed = 0

    public init(intervalNanoseconds: UInt64 = 10_000_000_000) {
        self.interval = intervalNanoseconds
    }

    /// Whether to log now, and how many occurrences were not logged since the last line.
    public mutating func record(now: UInt64) -> (log: Bool, suppressed: Int) {
        if let lastLogged, now &- lastLogged < interval {
            suppressed += 1
            return (false, 0)
        }
        lastLogged = now
        defer { suppressed = 0 }
        return (true, suppressed)
    }
}

/// A ``LogThrottle`` per key (say, a refusal reason and a peer address), in bounded memory:
/// each source of a recurring problem gets its own line per interval, so one client's
/// flood cannot hide another client's single refusal, and cannot flood the journal either.
/// At most `capacity` keys are tracked; a new key past that forgets the keys whose interval
/// has passed, or all of them if none has (a flood from more sources than that is
/// journald's own rate limit's to absorb). Pure; the caller supplies the clock.
public struct KeyedLogThrottle<Key: Hashable & Sendable>: Sendable {
    public let capacity: Int
    private let interval: UInt64
    private var throttles: [Key: LogThrottle] = [:]

    public init(capacity: Int = 1024, intervalNanoseconds: UInt64 = 10_000_000_000) {
        precondition(capacity > 0)
        self.capacity = capacity
        self.interval = intervalNanoseconds
    }

    /// Whether to log this occurrence of `key` now, and how many of `key`'s were not logged
    /// since its last line.
    public mutating func record(_ key: Key, now: UInt64) -> (log: Bool, suppressed: Int) {
        if throttles[key] == nil, throttles.count >= capacity {
            throttles = throttles.filter { !$0.value.intervalPassed(now: now) }
            if throttles.count >= capacity { throttles.removeAll(keepingCapacity: true) }
        }
        return throttles[key, default: LogThrottle(intervalNanoseconds: interval)].record(now: now)
    }

    /// Keys tracked now.
    public var count: Int { throttles.count }
}

extension LogThrottle {
    /// Whether the next occurrence would be logged (nothing logged within the interval).
    func intervalPassed(now: UInt64) -> Bool {
        guard let lastLogged else { return true }
        return now &- lastLogged >= interval
    }
}

