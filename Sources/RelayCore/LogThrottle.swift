/// At most one log line per `interval` for a recurring problem, with the count of the ones
/// held back, so garbage arriving in a loop cannot flood the journal. Pure; the caller
/// supplies a monotonic clock in nanoseconds.
public struct LogThrottle: Sendable {
    public let interval: UInt64
    private var lastLogged: UInt64?
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
