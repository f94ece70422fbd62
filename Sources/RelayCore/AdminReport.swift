/// A live node as the admin commands list it.
public struct NodeInfo: Sendable, Equatable {
    public var id: String
    /// Where its subscribers connect (`host:port`).
    public var address: String
    /// Its start time in ms since 1970 (also the epoch its routes carry).
    public var started: Int64
    public var version: String
    /// Open streams, as of its last heartbeat (cluster) or now (this node).
    public var connections: Int
    public var draining: Bool

    public init(id: String, address: String, started: Int64, version: String, connections: Int, draining: Bool = false) {
        self.id = id
        self.address = address
        self.started = started
        self.version = version
        self.connections = connections
        self.draining = draining
    }
}

/// What one node said to an admin request.
public struct NodeAnswer: Sendable, Equatable {
    public enum Outcome: Sendable, Equatable {
        /// It answered: the client's streams there (for a kick, the ones it closed).
        case answered([ConnectionInfo])
        /// The request reached its queue but no answer came within the timeout (the node is
        /// stopped, overloaded or gone without deregistering).
        case noAnswer
        /// The request could not be sent (the broker has no queue for it, or no connection).
        case unreachable(String)
    }

    public var node: String
    public var outcome: Outcome

    public init(node: String, outcome: Outcome) {
        self.node = node
        self.outcome = outcome
    }

    /// The stable name reports use.
    public var status: String {
        switch outcome {
        case .answered: "answered"
        case .noAnswer: "no_answer"
        case .unreachable: "unreachable"
        }
    }
}

/// A client's streams across the cluster, merged from every node asked.
public struct ClientReport: Sendable, Equatable {
    public var client: ClientID
    /// One answer per node asked, sorted by node id.
    public var nodes: [NodeAnswer]

    public init(client: ClientID, nodes: [NodeAnswer]) {
        self.client = client
        self.nodes = nodes.sorted { $0.node < $1.node }
    }

    /// Every stream reported, oldest first (ties by node, then peer, so output is stable).
    public var connections: [ConnectionInfo] {
        nodes.flatMap { answer -> [ConnectionInfo] in
            if case .answered(let connections) = answer.outcome { return connections }
            return []
        }
        .sorted { ($0.sinceMilliseconds, $0.node, $0.peer) < ($1.sinceMilliseconds, $1.node, $1.peer) }
    }

    /// True when every node asked answered: the report is the whole truth.
    public var isComplete: Bool {
        nodes.allSatisfy { if case .answered = $0.outcome { true } else { false } }
    }
}

/// Where a node's drain stands (`sse-relay drain`).
public struct DrainStatus: Sendable, Equatable {
    public var node: String
    public var draining: Bool
    /// True when this call started the drain (false: it was already under way, or not asked).
    public var started: Bool
    /// Streams still open here.
    public var connections: Int
    /// Over how long the open streams are being closed.
    public var periodSeconds: Int

    public init(node: String, draining: Bool, started: Bool, connections: Int, periodSeconds: Int) {
        self.node = node
        self.draining = draining
        self.started = started
        self.connections = connections
        self.periodSeconds = periodSeconds
    }
}
