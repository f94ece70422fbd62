/// What the relay tells operators and publishers about one open stream.
public struct ConnectionInfo: Sendable, Equatable {
    public var node: String
    public var client: ClientID
    public var topics: [TopicName]
    /// Wall-clock time the stream opened, in milliseconds since 1970.
    public var sinceMilliseconds: Int64
    /// The remote address as `host:port`.
    public var peer: String
    /// The id of the last event written to the stream (or, before any, the cursor the
    /// browser came back with): where it would resume if it reconnected now.
    public var lastEventID: EventID?

    public init(node: String, client: ClientID, topics: [TopicName], sinceMilliseconds: Int64, peer: String, lastEventID: EventID? = nil) {
        self.node = node
        self.client = client
        self.topics = topics
        self.sinceMilliseconds = sinceMilliseconds
        self.peer = peer
        self.lastEventID = lastEventID
    }
}

/// Why a stream ended. The raw values are stable: they appear in logs and, later, metrics.
public enum CloseReason: String, Sendable, CaseIterable {
    /// The browser went away (or the network did).
    case clientGone = "client_gone"
    /// The stream reached its maximum lifetime; the browser reconnects and resumes.
    case lifetime
    /// The browser stopped reading and its buffer filled up.
    case slowConsumer = "slow_consumer"
    /// An operator or the application closed it (`DELETE /v1/clients/{id}`, `sse-relay kick`).
    case kicked
    /// The relay is draining (SIGTERM or `sse-relay drain`): the browser reconnects elsewhere.
    case drain
    /// The stream's token expired; the browser reconnects with a fresh one and resumes by replay.
    case tokenExpired = "token_expired"
    /// A socket error.
    case error
}

/// A stream as seen from outside its event loop: it can describe itself and be closed
/// from any thread.
public protocol ManagedStream: Subscriber {
    var info: ConnectionInfo { get }
    /// Ends the stream cleanly (between events). Safe to call from any thread, any number of
    /// times.
    func close(reason: CloseReason)
}
