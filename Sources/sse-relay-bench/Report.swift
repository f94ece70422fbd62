import Foundation

/// Human-readable output and the `--json` file. Off the hot path, so Foundation is fine here.
enum Report {
    static func fixed(_ value: Double, _ decimals: Int = 1) -> String {
        String(format: "%.\(decimals)f", value)
    }

    static func mib(_ kib: Int) -> String {
        fixed(Double(kib) / 1024, 1) + " MiB"
    }

    static func cpu(bench: Double, server: Double?) -> String {
        var line = "cpu (% of one core): bench \(fixed(bench, 0))%"
        if let server { line += ", server \(fixed(server, 0))%" }
        return line
    }

    static func printConnect(_ figures: ConnectFigures) {
        print("established \(figures.established) of \(figures.requested), failures \(figures.failures), "
            + "\(fixed(figures.seconds, 2)) s, \(fixed(figures.connectsPerSecond, 0)) connects/s")
        for (reason, count) in figures.failureReasons.sorted(by: { $0.value > $1.value }).prefix(8) {
            print("  failure: \(count) × \(reason)")
        }
        if let before = figures.serverRSSBeforeKiB, let after = figures.serverRSSAfterKiB {
            var line = "server RSS: before \(mib(before)), after \(mib(after))"
            if let perConnection = figures.serverRSSPerConnectionKiB {
                line += ", \(fixed(perConnection, 2)) KiB per connection"
            }
            if figures.topic != nil {
                // The previous connections' memory stays in the relay's heap and is reused.
                line += " (after reconnecting: understates the cost)"
            }
            print(line)
        }
        print(cpu(bench: figures.benchCPUPercent, server: figures.serverCPUPercent))
    }

    static func printScenario(_ s: ScenarioFigures) {
        print("published \(s.published) events in \(s.requests) requests over \(fixed(s.publishSeconds, 2)) s: "
            + "\(fixed(s.publishedPerSecond, 0)) events/s, \(fixed(s.requestsPerSecond, 0)) requests/s")
        var answer = "server answered: accepted \(s.accepted), not connected \(s.notConnected), rejected \(s.rejected)"
        let statuses = s.statusCounts.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }
        answer += " (HTTP " + statuses.joined(separator: ", ") + "); reported delivered \(s.reportedDelivered)"
        if s.maxBacklog > 0 {
            answer += "; pipeline full, up to \(s.maxBacklog) events sent late"
        }
        print(answer)
        let drain = s.deliverySeconds - s.publishSeconds
        print("delivered \(s.received) of \(s.expected) expected: \(fixed(s.deliveredPerSecond, 0)) events/s "
            + "over \(fixed(s.deliverySeconds, 2)) s"
            + (drain > 0.05 ? " (last one \(fixed(drain, 2)) s after publishing ended)" : "")
            + "; lost \(s.lost)"
            + (s.extra > 0 ? ", extra \(s.extra)" : "")
            + (s.settled ? "" : " (stopped waiting)"))
        let l = s.latency
        print("latency ms: p50 \(fixed(l.p50Ms, 2)), p90 \(fixed(l.p90Ms, 2)), p99 \(fixed(l.p99Ms, 2)), "
            + "p99.9 \(fixed(l.p999Ms, 2)), max \(fixed(l.maxMs, 2)), mean \(fixed(l.meanMs, 2))")
        var tail = cpu(bench: s.benchCPUPercent, server: s.serverCPUPercent) + " from first publish to last delivery"
        if let rss = s.serverRSSKiB { tail += "; server RSS \(mib(rss))" }
        print(tail)
        if s.droppedConnections > 0 {
            print("WARNING: \(s.droppedConnections) SSE connections dropped during the scenario "
                + "(\(s.liveConnections) live)")
        }
        if s.untimed > 0 {
            print("note: \(s.untimed) events without a t= timestamp were received")
        }
        for error in s.errors {
            print("publisher error: \(error)")
        }
    }

    static func printChurn(_ c: ChurnFigures) {
        print("\(c.cycles) disconnect+connect cycles in \(fixed(c.seconds, 2)) s: "
            + "\(fixed(c.cyclesPerSecond, 0)) cycles/s, \(c.failures) failed connects, \(c.liveConnections) open after")
        for (reason, count) in c.failureReasons.sorted(by: { $0.value > $1.value }).prefix(8) {
            print("  failure: \(count) × \(reason)")
        }
        let l = c.connectLatency
        print("connect-to-first-bytes ms: p50 \(fixed(l.p50Ms, 2)), p99 \(fixed(l.p99Ms, 2)), max \(fixed(l.maxMs, 2))")
        var tail = cpu(bench: c.benchCPUPercent, server: c.serverCPUPercent)
        if let rss = c.serverRSSKiB { tail += "; server memory \(mib(rss))" }
        print(tail)
    }

    static func writeJSON(_ figures: BenchFigures, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(figures)
        try data.write(to: URL(fileURLWithPath: path))
    }
}
