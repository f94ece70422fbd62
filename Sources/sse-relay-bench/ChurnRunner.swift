import NIOCore

/// The churn scenario: connections are closed and reopened, as browsers navigating away and back
/// do, as fast as the server takes them while the rest stay open.
///
/// `workers` tasks each own a share of the open connections and, in turn, close one (waiting for
/// the close) and open a replacement, which counts when its first body bytes arrive, as in the
/// idle scenario. A cycle is one disconnect plus one connect; the connect time is recorded.
struct ChurnRunner: Sendable {
    let connector: SSEConnector
    let serverPids: [Int32]
    let workers: Int

    func run(
        channels: [any Channel], template: SSERequestTemplate, duration: Double
    ) async -> (ChurnFigures, [any Channel]) {
        let workerCount = max(1, min(workers, channels.count))
        let cpu = CPUWindow(serverPids: serverPids)
        let start = MonotonicClock.nanoseconds()
        let deadline = start + UInt64(duration * 1e9)
        var total = WorkerResult()
        await withTaskGroup(of: WorkerResult.self) { group in
            for worker in 0..<workerCount {
                // Slot numbers double as client indices of the replacements.
                let slots = stride(from: worker, to: channels.count, by: workerCount).map { ($0, channels[$0]) }
                group.addTask {
                    await churn(slots: slots, template: template, deadline: deadline)
                }
            }
            for await part in group {
                total.merge(part)
            }
        }
        let seconds = MonotonicClock.seconds(from: start, to: MonotonicClock.nanoseconds())
        let usage = cpu.finish()
        let figures = ChurnFigures(
            seconds: seconds,
            workers: workerCount,
            cycles: total.cycles,
            cyclesPerSecond: seconds > 0 ? Double(total.cycles) / seconds : 0,
            failures: total.failures,
            failureReasons: total.failureReasons,
            connectLatency: LatencyFigures(total.histogram),
            benchCPUPercent: usage.benchPercent,
            serverCPUPercent: usage.serverPercent,
            serverRSSKiB: ProcessStats.memoryKiB(pids: serverPids),
            liveConnections: total.channels.count
        )
        return (figures, total.channels)
    }

    private struct WorkerResult: Sendable {
        var cycles = 0
        var failures = 0
        var failureReasons: [String: Int] = [:]
        var histogram = LatencyHistogram()
        var channels: [any Channel] = []

        mutating func merge(_ other: WorkerResult) {
            cycles += other.cycles
            failures += other.failures
            failureReasons.merge(other.failureReasons, uniquingKeysWith: +)
            histogram.merge(other.histogram)
            channels += other.channels
        }
    }

    private func churn(
        slots: [(Int, any Channel)], template: SSERequestTemplate, deadline: UInt64
    ) async -> WorkerResult {
        var result = WorkerResult()
        var open: [(Int, (any Channel)?)] = slots.map { ($0.0, $0.1) }
        var next = 0
        while MonotonicClock.nanoseconds() < deadline && !open.isEmpty {
            let (index, channel) = open[next]
            if let channel {
                channel.close(promise: nil)
                try? await channel.closeFuture.get()
            }
            let begin = MonotonicClock.nanoseconds()
            switch await connector.connectOne(index: index, template: template) {
            case .success(let fresh):
                result.histogram.record(MonotonicClock.nanoseconds() - begin)
                result.cycles += 1
                open[next] = (index, fresh)
            case .failure(let error):
                result.failures += 1
                result.failureReasons["\(error)", default: 0] += 1
                open[next] = (index, nil)
            }
            next = (next + 1) % open.count
        }
        result.channels = open.compactMap(\.1)
        return result
    }
}
