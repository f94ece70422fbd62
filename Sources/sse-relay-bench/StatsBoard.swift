import NIOCore

/// The set of per-loop stats, and the only way the main task touches them: every read or reset
/// runs on the owning loop, so the receive path never needs synchronisation.
struct StatsBoard: Sendable {
    let loops: [any EventLoop]
    private let stats: [NIOLoopBound<LoopStats>]

    private init(loops: [any EventLoop], stats: [NIOLoopBound<LoopStats>]) {
        self.loops = loops
        self.stats = stats
    }

    static func make(loops: [any EventLoop]) async throws -> StatsBoard {
        var stats: [NIOLoopBound<LoopStats>] = []
        for loop in loops {
            // NIOLoopBound must be created on its loop.
            stats.append(try await loop.submit { NIOLoopBound(LoopStats(), eventLoop: loop) }.get())
        }
        return StatsBoard(loops: loops, stats: stats)
    }

    /// Must be called on `loops[index]` (from a channel initializer or handler).
    func stats(forLoop index: Int) -> LoopStats {
        stats[index].value
    }

    func snapshot(includeHistogram: Bool) async throws -> StatsSnapshot {
        var merged = StatsSnapshot()
        for box in stats {
            let part = try await box.eventLoop.submit {
                box.value.snapshot(includeHistogram: includeHistogram)
            }.get()
            merged.merge(part)
        }
        return merged
    }

    func resetScenario() async throws {
        for box in stats {
            try await box.eventLoop.submit { box.value.resetScenario() }.get()
        }
    }
}
