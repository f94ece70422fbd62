/// Where the cluster's nodes and routes are registered (Redis in production).
///
/// Guarantee: `liveNodes()` lists the nodes whose entry has not expired (a crashed node
/// disappears within the registry TTL, a drained or stopped one at once); `nodes(holding:)`
/// lists the nodes with a route for the client, which lags a connect or disconnect by one
/// registry flush (milliseconds) and may name a crashed node until its entry expires.
public protocol NodeDirectory: Sendable {
    func liveNodes() async throws -> [NodeInfo]
    func nodes(holding client: ClientID) async throws -> [String]
}

/// Sends a control message to one node's queue (RabbitMQ in production).
///
/// Guarantee: `.confirmed` means the message sits in that node's queue; it is consumed in
/// order with the events forwarded there, at most once acted upon, and dropped after the
/// queue's message TTL. Anything else means it was not delivered (or may not have been).
public protocol ControlSender: Sendable {
    func send(_ message: ControlMessage, to node: String) async -> ForwardOutcome
}

/// The cluster-wide admin commands: asks the nodes that hold a client, merges their
/// answers, and answers other nodes' requests.
///
/// Guarantees: a call returns within its timeout (plus the broker's confirm timeout for
/// sending) whatever the other nodes do; every node asked appears in the report as
/// answered, not answering, or unreachable, never silently left out; this node is always
/// asked directly (so streams opened a moment ago, not yet in the registry, are included).
/// A node that reads a request after its deadline ignores it, so a node that comes back
/// from a stall does not kick a browser long after the command gave up on it (this relies
/// on clocks agreeing to well within the timeout, as NTP gives).
public final class ClusterAdmin: Sendable {
    public typealias LocalAction = @Sendable (ControlRequest.Action, ClientID) async -> [ConnectionInfo]

    public let nodeID: String
    private let directory: any NodeDirectory
    private let sender: any ControlSender
    private let local: LocalAction
    private let clock: @Sendable () -> Int64
    public let pending = PendingReplies()

    /// - Parameters:
    ///   - local: answers a request on this node (describes or kicks its streams).
    ///   - clock: wall-clock milliseconds (for request deadlines).
    public init(
        nodeID: String, directory: any NodeDirectory, sender: any ControlSender, clock: @escaping @Sendable () -> Int64,
        local: @escaping LocalAction
    ) {
        self.nodeID = nodeID
        self.directory = directory
        self.sender = sender
        self.clock = clock
        self.local = local
    }

    /// The live nodes. Throws when the registry cannot be read.
    public func nodes() async throws -> [NodeInfo] {
        try await directory.liveNodes()
    }

    /// Asks every node that holds `client` (and this one) to describe or close its streams.
    /// Throws only when the registry cannot be read.
    public func ask(_ action: ControlRequest.Action, client: ClientID, timeout: Duration) async throws -> ClientReport {
        let others = Set(try await directory.nodes(holding: client)).subtracting([nodeID])
        let id = "\(nodeID).\(UInt64.random(in: 0...UInt64.max))"
        let request = ControlRequest(id: id, from: nodeID, action: action, client: client, expiresMilliseconds: clock() + timeout.milliseconds)
        pending.register(id, expecting: others)
        let unreachable = await withTaskGroup(of: (String, ForwardOutcome).self, returning: [String: String].self) { group in
            for node in others {
                group.addTask { (node, await self.sender.send(.request(request), to: node)) }
            }
            var unreachable: [String: String] = [:]
            for await (node, outcome) in group where outcome != .confirmed {
                unreachable[node] = Self.explain(outcome)
                self.pending.giveUp(on: node, for: id)
            }
            return unreachable
        }
        let localConnections = await local(action, client)
        let replies = await pending.wait(for: id, timeout: timeout)
        var answers = [NodeAnswer(node: nodeID, outcome: .answered(localConnections))]
        for node in others {
            if let reply = replies[node] {
                answers.append(NodeAnswer(node: node, outcome: .answered(reply.connections)))
            } else if let reason = unreachable[node] {
                answers.append(NodeAnswer(node: node, outcome: .unreachable(reason)))
            } else {
                answers.append(NodeAnswer(node: node, outcome: .noAnswer))
            }
        }
        return ClientReport(client: client, nodes: answers)
    }

    /// A control message from this node's queue: answers a request (through the asker's
    /// queue), or hands a reply to the request waiting for it.
    public func receive(_ message: ControlMessage) async {
        switch message {
        case .reply(let reply):
            pending.receive(reply)
        case .request(let request):
            guard clock() <= request.expiresMilliseconds else { return }
            let connections = await local(request.action, request.client)
            _ = await sender.send(.reply(ControlReply(id: request.id, from: nodeID, connections: connections)), to: request.from)
        }
    }

    private static func explain(_ outcome: ForwardOutcome) -> String {
        switch outcome {
        case .confirmed: "confirmed"
        case .noRoute: "the broker has no queue for this node"
        case .unconfirmed(let reason): "the broker did not confirm the request: \(reason)"
        case .unavailable(let reason): "no broker connection: \(reason)"
        case .blocked(let reason): "the broker refuses publishes for now: \(reason)"
        }
    }
}
