import Logging
import RelayAuth
import RelayCore

/// What every stream of a server shares. One reference per stream instead of a copy of
/// each field: a held stream should cost as little memory as possible.
final class StreamEnvironment: Sendable {
    /// Replaced on reload (SIGHUP): keep-alive, lifetime, limits and CORS apply to every
    /// stream from the next time it reads them.
    let live: Live<SSEServer.Configuration>
    var configuration: SSEServer.Configuration { live.value }
    let hub: Hub<SSEStream>
    /// Cluster mode: the shared history. `nil`: the hub's own window (standalone).
    let replaySource: (any ReplaySource)?
    let counters: StreamCounters
    /// Once engaged (SIGTERM or `sse-relay drain`), new streams are refused with 503.
    let drainSwitch: DrainSwitch
    /// Without per-stream metadata: stream logs add `client.id` and `peer` when written.
    let logger: Logger
    /// Decides who may open a stream (JWT, the local application, or anyone).
    let authenticator: any SubscriberAuthenticator
    /// `true` for ``AnonymousAuthenticator``: admission then stays on the event loop.
    let isAnonymous: Bool
    /// Streams held, for the per-node and per-client limits.
    let ledger = ConnectionLedger()
    let connectRate = ConnectRateLimiter()

    init(
        configuration: SSEServer.Configuration, hub: Hub<SSEStream>, replaySource: (any ReplaySource)?, counters: StreamCounters,
        authenticator: any SubscriberAuthenticator = AnonymousAuthenticator(), drainSwitch: DrainSwitch = DrainSwitch(), logger: Logger
    ) {
        self.authenticator = authenticator
        self.isAnonymous = authenticator is AnonymousAuthenticator
        self.drainSwitch = drainSwitch
        self.live = Live(configuration)
        self.hub = hub
        self.replaySource = replaySource
        self.counters = counters
        self.logger = logger
    }
}
