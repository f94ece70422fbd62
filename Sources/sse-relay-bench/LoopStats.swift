/// Receive-side counters for all SSE connections on one event loop.
///
/// Confined to its loop, so the per-event path is plain increments: no locks, no atomics, no
/// contention between loops. The main task reads them with `loop.submit` (see `StatsBoard`).
final class LoopStats {
    /// Events whose data carried a `t=` timestamp: the ones the scenarios publish.
    var received = 0
    /// Events with data but no timestamp (not ours, e.g. a relay greeting); counted, not timed.
    var untimed = 0
    var histogram = LatencyHistogram()
    var lastReceiveNanos: UInt64 = 0
    /// Cumulative over the whole run, so a scenario can report the change.
    var established = 0
    var dropped = 0

    @inline(__always)
    func record(timestamp: UInt64?, now: UInt64) {
        if let timestamp {
            received &+= 1
            histogram.record(now > timestamp ? now - timestamp : 0)
        } else {
            untimed &+= 1
        }
        lastReceiveNanos = now
    }

    func resetScenario() {
        received = 0
        untimed = 0
        histogram = LatencyHistogram()
        lastReceiveNanos = 0
    }

    func snapshot(includeHistogram: Bool) -> StatsSnapshot {
        StatsSnapshot(
            received: received,
            untimed: untimed,
            lastReceiveNanos: lastReceiveNanos,
            established: established,
            dropped: dropped,
            histogram: includeHistogram ? histogram : nil
        )
    }
}
