import Synchronization

/// How many streams ended, and how many subscribe requests were refused, for each reason
/// since start: shared by the transport that counts and the status answers that report
/// them; refusals also go to the metrics. Closes and refusals are rare next to events, so a
/// lock is cheap enough here.
public final class StreamCounters: Sendable {
    private let closed = Mutex<[CloseReason: Int]>(Dictionary(uniqueKeysWithValues: CloseReason.allCases.map { ($0, 0) }))
    private let refused = Mutex<[RefusalReason: Int]>(Dictionary(uniqueKeysWithValues: RefusalReason.allCases.map { ($0, 0) }))

    private let metrics: RelayMetrics

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

    /// Refusal reason → count, for every reason.
    public var refusals: [RefusalReason: Int] {
        refused.withLock { $0 }
    }
}
