import Logging
import NIOCore
import RelayCore
import Synchronization

/// Sends the events the rate limit held back (`coalesce`) once their client ids have tokens
/// again.
///
/// It ticks only while something is held: it used to tick every 20 ms for the life of the
/// process, so an idle relay woke its event loop 50 times a second for nothing.
final class HeldBackFlusher: Sendable {
    let limiter: PublishRateLimiter
    private let live: Live<PublishServer.Configuration>
    private let backend: any PublishingBackend
    private let eventLoop: any EventLoop
    private let logger: Logger
    private let stopped = Atomic<Bool>(false)

    /// How often held-back events are checked for a token: short next to any useful rate,
    /// long enough that a burst of held events costs few wake-ups.
    static let interval = TimeAmount.milliseconds(20)

    init(
        limiter: PublishRateLimiter, live: Live<PublishServer.Configuration>, backend: any PublishingBackend,
        eventLoop: any EventLoop, logger: Logger
    ) {
        self.limiter = limiter
        self.live = live
        self.backend = backend
        self.eventLoop = eventLoop
        self.logger = logger
    }

    /// Called after the limiter answered `.deferred`: starts the ticking if it was idle.
    func held() {
        if limiter.claimFlush() { schedule() }
    }

    /// Shutdown: events still held are not sent.
    func stop() {
        stopped.store(true, ordering: .relaxed)
    }

    private func schedule() {
        eventLoop.scheduleTask(in: Self.interval) { self.tick() }
    }

    private func tick() {
        guard !stopped.load(ordering: .relaxed) else { return }
        let configuration = live.value
        let rate = configuration.rateLimitAction == .coalesce ? configuration.rateLimit : nil
        let (due, holding) = limiter.due(configuration: rate)
        if holding { schedule() }
        guard !due.isEmpty else { return }
        backend.publish(due, on: eventLoop).whenFailure { [logger] error in
            logger.warning("coalesced events could not be published", metadata: ["error": "\(error)", "events": "\(due.count)"])
        }
    }
}
