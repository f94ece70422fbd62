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
    /// held back to be sent by ``due(configuration:)``.
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

    /// Held-back events whose client id has a token again, taken out to be sent now.
    public func due(configuration: TokenBuckets.Configuration) -> [Publication] {
        let now = NIODeadline.now().uptimeNanoseconds
        return state.withLock { state in
            guard !state.pending.isEmpty else { return [] }
            var ready: [Publication] = []
            for (client, publication) in state.pending where state.buckets.admit(client, now: now, configuration: configuration) {
                ready.append(publication)
                state.pending[client] = nil
            }
            return ready
        }
    }

    /// Takes every held-back event out (the limit was switched off or to `drop` by a
    /// reload, so they go out now rather than never).
    public func releaseAll() -> [Publication] {
        state.withLock { state in
            defer { state.pending.removeAll() }
            return Array(state.pending.values)
        }
    }

    /// Client ids currently tracked (bounded by the configuration's capacity).
    public var trackedClients: Int { state.withLock { $0.buckets.count } }

    /// Events held back now (at most one per client id).
    public var heldBack: Int { state.withLock { $0.pending.count } }
}
