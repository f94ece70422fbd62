/// CPU used by the benchmark and the relay over a stretch of wall time, as a percentage of one
/// core: the reader compares them to see which side was saturated (the machine has two cores,
/// so either one near 100% means that side was the bottleneck).
struct CPUWindow {
    private let startNanos: UInt64
    private let ownStart: Double
    private let serverPids: [Int32]
    private let relayStart: Double?

    /// `serverPids`: every process of the server under test; their CPU is summed.
    init(serverPids: [Int32]) {
        self.startNanos = MonotonicClock.nanoseconds()
        self.ownStart = ProcessStats.ownCPUSeconds()
        self.serverPids = serverPids
        self.relayStart = ProcessStats.cpuSeconds(pids: serverPids)
    }

    func finish() -> (benchPercent: Double, relayPercent: Double?) {
        let wall = MonotonicClock.seconds(from: startNanos, to: MonotonicClock.nanoseconds())
        guard wall > 0 else { return (0, nil) }
        let own = (ProcessStats.ownCPUSeconds() - ownStart) / wall * 100
        var relay: Double?
        if let relayStart, let now = ProcessStats.cpuSeconds(pids: serverPids) {
            relay = (now - relayStart) / wall * 100
        }
        return (own, relay)
    }
}
