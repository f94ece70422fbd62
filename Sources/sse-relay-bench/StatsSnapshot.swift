/// A copy of one or more loops' `LoopStats`, safe to carry off the loops.
struct StatsSnapshot: Sendable {
    var received = 0
    var untimed = 0
    var lastReceiveNanos: UInt64 = 0
    var established = 0
    var dropped = 0
    var histogram: LatencyHistogram?

    mutating func merge(_ other: StatsSnapshot) {
        received += other.received
        untimed += other.untimed
        lastReceiveNanos = max(lastReceiveNanos, other.lastReceiveNanos)
        established += other.established
        dropped += other.dropped
        if let theirs = other.histogram {
            if histogram == nil {
                histogram = theirs
            } else {
                histogram!.merge(theirs)
            }
        }
    }

    var live: Int { established - dropped }
}
