/// A validated event with its target, ready for the hub.
public struct Publication: Sendable, Equatable {
    public var target: Target
    public var event: Event

    public init(target: Target, event: Event) {
        self.target = target
        self.event = event
    }
}

/// What really happened to one publication, as the publisher is told.
public struct DeliveryReport: Sendable, Equatable {
    /// The id the event carries on every stream (the replay cursor).
    public var id: EventID
    public var target: Target
    /// The node that took the publish call.
    public var node: String
    /// Connections on this node the event was queued to.
    public var delivered: Int
    /// Other nodes the event was sent to (always empty in standalone mode).
    public var forwarded: [Forwarding]
    /// Whether the event is kept for replay.
    public var stored: Bool

    public struct Forwarding: Sendable, Equatable {
        public var node: String
        public var outcome: ForwardOutcome

        public init(node: String, outcome: ForwardOutcome) {
            self.node = node
            self.outcome = outcome
        }

        /// Whether the broker confirmed it took the event for that node's queue.
        public var confirmed: Bool { outcome == .confirmed }
    }

    public init(id: EventID, target: Target, node: String, delivered: Int, forwarded: [Forwarding] = [], stored: Bool) {
        self.id = id
        self.target = target
        self.node = node
        self.delivered = delivered
        self.forwarded = forwarded
        self.stored = stored
    }

    /// A client event that reached no connection anywhere. (Topic events with no
    /// subscriber are not an error: nobody asked for them yet.)
    public var clientNotConnected: Bool {
        if case .client = target, delivered == 0, forwarded.isEmpty { return true }
        return false
    }

    /// Nothing was delivered here and no other node's queue could be reached through the
    /// broker although some node holds the target.
    public var brokerUnavailable: Bool {
        guard delivered == 0, !forwarded.isEmpty else { return false }
        return forwarded.allSatisfy {
            switch $0.outcome {
            case .unavailable, .blocked: true
            case .confirmed, .noRoute, .unconfirmed: false
            }
        }
    }
}

/// A node's state as `GET /v1/health` and `sse-relay status` show it.
public struct NodeStatus: Sendable, Equatable {
    public var node: String
    public var mode: String
    public var version: String
    public var uptimeSeconds: Int
    public var statistics: HubStatistics
    /// Each configured backend (`redis`, `amqp`) and whether it is reachable now.
    public var backends: [String: Bool]
    /// Streams ended since start, by reason (slow consumers among them).
    public var closes: [CloseReason: Int]
    /// Set once the node started draining (SIGTERM, `sse-relay drain`).
    public var draining: Bool

    public init(
        node: String, mode: String, version: String, uptimeSeconds: Int, statistics: HubStatistics,
        backends: [String: Bool] = [:], closes: [CloseReason: Int] = [:], draining: Bool = false
    ) {
        self.draining = draining
        self.node = node
        self.mode = mode
        self.version = version
        self.uptimeSeconds = uptimeSeconds
        self.statistics = statistics
        self.backends = backends
        self.closes = closes
    }
}

extension NodeStatus {
    /// Why a load balancer should not send browsers here now (empty: ready): the node is
    /// draining, or a configured backend is down (its streams would miss other nodes' events).
    public var notReadyReasons: [String] {
        var reasons: [String] = []
        if draining { reasons.append("draining") }
        for (name, up) in backends.sorted(by: { $0.key < $1.key }) where !up {
            reasons.append("\(name) down")
        }
        return reasons
    }
}
