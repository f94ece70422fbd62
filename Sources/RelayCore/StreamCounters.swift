import Synchronization

/// How many streams ended, and how many subscribe requests were refused, for each reason
/// since start: shared by the transport that counts and the status answers that report
/// them; refusals also go to the metrics. Closes and refusals are rare next to events, so a
/// lock is cheap enough here.
public final class StreamCounters: Sendable {
    private let closed = Mutex<[CloseReason: Int]>(Dictionary(uniqueKeysWithValues: CloseReason.allCases.map { ($0, 0) }))
    private let refused = Mutex<[RefusalReason: Int]>(Dictionary(uniqueKeysWithValues: RefusalReason.allCases.map { ($0, 0) }))

    private let metrics: RelayMetrics
    private let refusalLog = Mutex(KeyedLogThrottle<String>())

    public init(metrics: RelayMetrics = RelayMetrics()) {
        self.metrics = metrics
    }

    public func recordClose(_ reason: CloseReason) {
        closed.withLock { $0[reason, default: 0] += 1 }
    }

    /// Reason → count, for every reason.
    public var closes: [CloseReason: Int] {
        closed.withLock { $0 }
    }

    /// A subscribe request refused before its stream opened.
    public func recordRefusal(_ reason: RefusalReason) {
        refused.withLock { $0[reason, default: 0] += 1 }
        metrics.recordRefusal(reason)
    }

    /// The same, for a refusal the caller logs: whether to log it at its level now (one
    /// line per reason and peer every 10 s), and how many of that pair's were not.
    /// A client retrying in a loop, or a flood from one address, then costs a line per 10 s
    /// instead of one per attempt; the counts and metrics still see every refusal.
    public func recordRefusal(_ reason: RefusalReason, peer: String, now: UInt64) -> (log: Bool, notLogged: Int) {
        recordRefusal(reason)
        let (log, suppressed) = refusalLog.withLock { $0.record(reason.rawValue + " " + peer, now: now) }
        return (log, suppressed)
    }

    /// Refusal reason → count, for every reason.
    public var refusals: [RefusalReason: Int] {
        refused.withLock { $0 }
    }
}
