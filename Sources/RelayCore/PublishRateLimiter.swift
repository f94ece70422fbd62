import NIOCore
import Synchronization

/// The per-client-id publish rate limit shared by every publisher connection.
///
/// A lock around ``TokenBuckets`` (and, when coalescing, the one held-back event per client
/// id): one short critical section per client event, far below the cost of encoding and
/// fanning it out.
public final class PublishRateLimiter: Sendable {
    /// What happens to an event over its client id's rate.
    public enum Action: String, Sendable, Equatable, CaseIterable {
        /// Not delivered; its publisher is told `dropped: rate_limited`.
        case drop
        /// Held back and sent when the rate allows; a newer event for the same client id
        /// replaces one still held (only the latest state matters, as for a progress bar).
        case coalesce
    }

    /// What became of one event.
    public enum Admission: Sendable, Equatable {
        case admitted
        case dropped
        /// Held back; `replaced` says an older held-back event was discarded for it.
        case deferred(replaced: Bool)
    }

    private struct State {
        var buckets = TokenBuckets()
        /// At most one held-back event per client id, in arrival order of first deferral.
        var pending: [ClientID: Publication] = [:]
        /// A flush is scheduled (or running) for the events in `pending`.
        var flushScheduled = false
    }

    private let state = Mutex(State())
    public let counters: PublishCounters

    public init(counters: PublishCounters = PublishCounters()) {
        self.counters = counters
    }

    /// Whether an event for `client` may go out now; counts it when it may not.
    public func admit(_ client: ClientID, configuration: TokenBuckets.Configuration) -> Bool {
        admit(Publication(target: .client(client), event: Event(data: "")), client: client, configuration: configuration, action: .drop) == .admitted
    }

    /// Applies the limit to `publication` (for `client`): it goes out now, is dropped, or is
    /// held back to be sent by ``due(configuration:)``; a caller told
    /// `.deferred` asks ``claimFlush()`` whether to schedule that.
    public func admit(
        _ publication: Publication, client: ClientID, configuration: TokenBuckets.Configuration, action: Action
    ) -> Admission {
        let now = NIODeadline.now().uptimeNanoseconds
        let admission = state.withLock { state -> Admission in
            // A held-back event goes first: a newer one must not overtake it.
            if state.pending[client] == nil, state.buckets.admit(client, now: now, configuration: configuration) {
                return .admitted
            }
            switch action {
            case .drop:
                return .dropped
            case .coalesce:
                let replaced = state.pending[client] != nil
                guard replaced || state.pending.count < configuration.capacity else { return .dropped }
                state.pending[client] = publication
                return .deferred(replaced: replaced)
            }
        }
        switch admission {
        case .dropped, .deferred(replaced: true): counters.recordRateLimited()
        case .admitted, .deferred(replaced: false): break
        }
        return admission
    }

    /// Whether the caller should schedule a flush for the event it just had held back: true
    /// for the first hold after nothing was held, so that one timer runs while events wait
    /// and none runs on a relay that holds nothing.
    public func claimFlush() -> Bool {
        state.withLock { state in
            guard !state.flushScheduled, !state.pending.isEmpty else { return false }
            state.flushScheduled = true
            return true
        }
    }

    /// Takes out the held-back events whose client id has a token again (every one when
    /// `configuration` is nil: the limit was switched off or to `drop` by a reload, so they
    /// go out now rather than never). `holding` says events still wait, so the flush must
    /// run again; when it is false the next hold claims a new flush.
    public func due(configuration: TokenBuckets.Configuration?) -> (ready: [Publication], holding: Bool) {
        let now = NIODeadline.now().uptimeNanoseconds
        return state.withLock { state in
            var ready: [Publication] = []
            if let configuration {
                for (client, publication) in state.pending where state.buckets.admit(client, now: now, configuration: configuration) {
                    ready.append(publication)
                    state.pending[client] = nil
                }
            } else {
                ready = Array(state.pending.values)
                state.pending.removeAll()
            }
            state.flushScheduled = !state.pending.isEmpty
            return (ready, state.flushScheduled)
        }
    }

    /// Client ids currently tracked (bounded by the configuration's capacity).
    public var trackedClients: Int { state.withLock { $0.buckets.count } }

    /// Events held back now (at most one per client id).
    public var heldBack: Int { state.withLock { $0.pending.count } }
}
