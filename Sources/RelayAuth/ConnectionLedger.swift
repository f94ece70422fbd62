import RelayCore
import Synchronization

/// Streams held by this node, in all and per client id, for the connection limits.
///
/// A stream takes its place with ``reserve(_:limits:)`` before it opens and gives it back
/// with ``release(_:)`` exactly once when it ends, so the counts stay exact whatever the
/// order of opens and closes on different event loops.
public final class ConnectionLedger: Sendable {
    public struct Limits: Sendable, Equatable {
        /// Streams on this node; 0: no limit.
        public var perNode: Int
        /// Streams per client id on this node; 0: no limit. Past it new streams are refused
        /// (429): the browser's old stream is still open, and closing it instead would let two
        /// tabs kick each other forever.
        public var perClient: Int

        public init(perNode: Int = 50_000, perClient: Int = 16) {
            self.perNode = perNode
            self.perClient = perClient
        }
    }

    private struct State {
        var total = 0
        var perClient: [ClientID: Int] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    public func reserve(_ client: ClientID, limits: Limits) -> Refusal? {
        state.withLock { (state: inout State) -> Refusal? in
            if limits.perNode > 0, state.total >= limits.perNode { return .nodeFull(limit: limits.perNode) }
            let held = state.perClient[client, default: 0]
            if limits.perClient > 0, held >= limits.perClient { return .clientFull(limit: limits.perClient) }
            state.total += 1
            state.perClient[client] = held + 1
            return nil
        }
    }

    public func release(_ client: ClientID) {
        state.withLock { state in
            state.total -= 1
            let held = state.perClient[client, default: 1] - 1
            state.perClient[client] = held > 0 ? held : nil
        }
    }

    public var total: Int { state.withLock { $0.total } }

    public func held(by client: ClientID) -> Int { state.withLock { $0.perClient[client, default: 0] } }
}
