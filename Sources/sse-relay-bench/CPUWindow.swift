/// CPU used by the benchmark and the server under test over a stretch of wall time, as a
/// percentage of one core: the reader compares them to see which side was saturated (the
/// machine has two cores, so either one near 100% means that side was the bottleneck).
struct CPUWindow {
    private let startNanos: UInt64
    private let ownStart: Double
    private let serverPids: [Int32]
    private let serverStart: Double?

    /// `serverPids`: every process of the server under test; their CPU is summed.
    init(serverPids: [Int32]) {
        self.startNanos = MonotonicClock.nanoseconds()
        self.ownStart = ProcessStats.ownCPUSeconds()
        self.serverPids = serverPids
        self.serverStart = ProcessStats.cpuSeconds(pids: serverPids)
    }

    func finish() -> (benchPercent: Double, serverPercent: Double?) {
        let wall = MonotonicClock.seconds(from: startNanos, to: MonotonicClock.nanoseconds())
        guard wall > 0 else { return (0, nil) }
        let own = (ProcessStats.ownCPUSeconds() - ownStart) / wall * 100
        var server: Double?
        if let serverStart, let now = ProcessStats.cpuSeconds(pids: serverPids) {
            server = (now - serverStart) / wall * 100
        }
        return (own, server)
    }
}
