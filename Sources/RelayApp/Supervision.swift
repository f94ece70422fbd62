import Logging
import NIOCore
import RelaySystemd
import ServiceLifecycle
import UnixSignals

/// The daemon's conversation with its supervisor: status lines, watchdog pings backed by
/// evidence of progress, and reloads on SIGHUP.
///
/// The watchdog pings only after every event loop ran a task and every backend thread woke
/// up since the last ping: a hung loop or a stuck C call stops the pings, and systemd
/// restarts the daemon, instead of a healthy side thread covering for it.
final class Supervision: Service {
    /// A backend thread's wake-up counter (it advances at least every few seconds while the
    /// thread is alive and not stuck).
    struct Probe: Sendable {
        var name: String
        var progress: @Sendable () -> UInt64
    }

    let notifier: SystemdNotifier?
    let watchdog: Duration?
    let loops: [any EventLoop]
    let probes: [Probe]
    let status: @Sendable () -> String
    /// Applies a fresh configuration; returns why it was refused, or `nil`.
    let reload: @Sendable () async -> String?
    let logger: Logger

    init(
        notifier: SystemdNotifier?, loops: [any EventLoop], probes: [Probe], logger: Logger,
        status: @escaping @Sendable () -> String, reload: @escaping @Sendable () async -> String?
    ) {
        self.notifier = notifier
        self.watchdog = notifier == nil ? nil : SystemdNotifier.watchdogInterval()
        self.loops = loops
        self.probes = probes
        self.status = status
        self.reload = reload
        self.logger = logger
    }

    /// Tells the supervisor the daemon is ready (listeners bound, backends answered).
    func ready() {
        _ = notifier?.ready(status: status())
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.reportStatus() }
                group.addTask { await self.handleReloads() }
                if let notifier = self.notifier, let interval = self.watchdog {
                    group.addTask { await self.feedWatchdog(notifier, interval: interval) }
                }
                await group.waitForAll()
            }
        }
    }

    private func reportStatus() async {
        guard let notifier else { return }
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(5))
            _ = notifier.status(status())
        }
    }

    private func feedWatchdog(_ notifier: SystemdNotifier, interval: Duration) async {
        logger.info("watchdog enabled", metadata: ["watchdog.seconds": "\(interval.components.seconds)"])
        var seen = probes.map { $0.progress() }
        while !Task.isCancelled {
            try? await Task.sleep(for: interval / 2)
            // A loop that cannot run this task is hung: waiting here stops the pings.
            for loop in loops {
                _ = try? await loop.submit {}.get()
            }
            let now = probes.map { $0.progress() }
            let stuck = zip(probes, zip(seen, now)).filter { $1.0 == $1.1 }.map(\.0.name)
            seen = now
            if stuck.isEmpty {
                _ = notifier.watchdogPing()
            } else {
                logger.warning("watchdog ping withheld: no progress", metadata: ["threads": "\(stuck.joined(separator: ","))"])
            }
        }
    }

    private func handleReloads() async {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals {
            _ = notifier?.reloading()
            if let refusal = await reload() {
                logger.error("configuration reload refused; the running configuration stays", metadata: ["error": "\(refusal)"])
            } else {
                logger.notice("configuration reloaded")
            }
            _ = notifier?.ready(status: status())
        }
    }
}
