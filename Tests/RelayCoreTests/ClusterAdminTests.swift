import NIOCore
import Synchronization
import Testing

@testable import RelayCore

@Suite struct ControlMessageCodecTests {
    let client = ClientID("user-1")!

    @Test func requestRoundTrips() throws {
        let request = ControlRequest(id: "node-a.42", from: "node-a", action: .kick, client: client, expiresMilliseconds: 1_764_156_000_123)
        let body = ControlMessageCodec.encode(.request(request))
        #expect(String(buffer: body) == "sse-relay-control 1\nrequest node-a.42 node-a kick user-1 1764156000123\n")
        #expect(try NodeMessage.decode(body) == .control(.request(request)))
    }

    @Test func replyRoundTripsWithConnections() throws {
        let connections = [
            ConnectionInfo(node: "node-b", client: client, topics: [], sinceMilliseconds: 10, peer: "127.0.0.1:5000", lastEventID: EventID(epoch: 1, sequence: 7)),
            ConnectionInfo(
                node: "node-b", client: client, topics: [TopicName("news")!, TopicName("a.b")!], sinceMilliseconds: 11, peer: "[::1]:6000",
                lastEventID: nil),
        ]
        let reply = ControlReply(id: "node-a.42", from: "node-b", connections: connections)
        let body = ControlMessageCodec.encode(.reply(reply))
        #expect(try NodeMessage.decode(body) == .control(.reply(reply)))
        let empty = ControlReply(id: "x.1", from: "node-c", connections: [])
        #expect(try NodeMessage.decode(ControlMessageCodec.encode(.reply(empty))) == .control(.reply(empty)))
    }

    @Test func eventBatchesAreNotControlMessages() throws {
        let event = ForwardedEvent(target: .client(client), id: EventID(epoch: 1, sequence: 2), frame: ByteBuffer(string: "id: 1-2\ndata: x\n\n"))
        #expect(try NodeMessage.decode(ForwardedBatchCodec.encode([event])) == .events([event]))
    }

    @Test(arguments: [
        "sse-relay-control 1\n",
        "sse-relay-control 1\nrequest a b kick user-1\n",
        "sse-relay-control 1\nrequest a b explode user-1 5\n",
        "sse-relay-control 1\nrequest a b kick bad!id 5\n",
        "sse-relay-control 1\nrequest a b kick user-1 soon\n",
        "sse-relay-control 1\nrequest a b kick user-1 5\nextra\n",
        "sse-relay-control 1\nreply a b user-1 2\nconn 1 p:1 - -\n",
        "sse-relay-control 1\nreply a b user-1 1\nconn 1 p:1 not-an-id -\n",
        "sse-relay-control 1\nreply a b user-1 1\nconn 1 p:1 - bad topic\n",
        "sse-relay-control 1\nreply a b user-1 1\nconn x p:1 - -\n",
        "sse-relay-control 1\nreply a b! user-1 0\n",
        "sse-relay-control 1\nhello\n",
    ])
    func malformedMessagesAreRejected(text: String) {
        #expect(throws: (any Error).self) { try NodeMessage.decode(ByteBuffer(string: text)) }
    }
}

@Suite struct PendingRepliesTests {
    func reply(_ id: String, from node: String) -> ControlReply {
        ControlReply(id: id, from: node, connections: [])
    }

    @Test func endsAsSoonAsEveryNodeAnswered() async {
        let pending = PendingReplies()
        pending.register("r1", expecting: ["b", "c"])
        #expect(pending.receive(reply("r1", from: "b")))
        #expect(!pending.receive(reply("r1", from: "b")))  // duplicate
        #expect(!pending.receive(reply("r1", from: "z")))  // not asked
        #expect(!pending.receive(reply("other", from: "c")))  // not waited for
        let start = ContinuousClock.now
        async let replies = pending.wait(for: "r1", timeout: .seconds(30))
        pending.receive(reply("r1", from: "c"))
        #expect(await Set(replies.keys) == ["b", "c"])
        #expect(ContinuousClock.now - start < .seconds(10))
        #expect(pending.count == 0)
    }

    @Test func timesOutWithWhatCame() async {
        let pending = PendingReplies()
        pending.register("r2", expecting: ["b", "c"])
        pending.receive(reply("r2", from: "c"))
        let replies = await pending.wait(for: "r2", timeout: .milliseconds(50))
        #expect(Set(replies.keys) == ["c"])
        #expect(pending.count == 0)
        #expect(!pending.receive(reply("r2", from: "b")))  // late
    }

    @Test func givingUpOnTheLastNodeEndsTheWait() async {
        let pending = PendingReplies()
        pending.register("r3", expecting: ["b"])
        pending.giveUp(on: "b", for: "r3")
        #expect(await pending.wait(for: "r3", timeout: .seconds(30)).isEmpty)
        pending.register("r4", expecting: [])
        #expect(await pending.wait(for: "r4", timeout: .seconds(30)).isEmpty)
        #expect(await pending.wait(for: "r5", timeout: .zero).isEmpty)
    }
}

/// A cluster in memory: each node's `ClusterAdmin` sends through this to the others'.
final class InMemoryCluster: NodeDirectory, Sendable {
    let routes: [String]
    let admins = Mutex<[String: ClusterAdmin]>([:])
    /// Nodes whose queue takes messages that nobody reads (a stopped process).
    let stalled: Set<String>
    /// Nodes the broker has no queue for.
    let gone: Set<String>

    init(routes: [String], stalled: Set<String> = [], gone: Set<String> = []) {
        self.routes = routes
        self.stalled = stalled
        self.gone = gone
    }

    func liveNodes() async throws -> [NodeInfo] {
        routes.map { NodeInfo(id: $0, address: "", started: 0, version: "", connections: 0) }
    }

    func nodes(holding client: ClientID) async throws -> [String] { routes }


    struct Sender: ControlSender {
        let cluster: InMemoryCluster
        func send(_ message: ControlMessage, to node: String) async -> ForwardOutcome {
            if cluster.gone.contains(node) { return .noRoute }
            if cluster.stalled.contains(node) { return .confirmed }
            guard let admin = cluster.admins.withLock({ $0[node] }) else { return .noRoute }
            // Through the codec, as over the broker.
            guard case .control(let decoded) = try? NodeMessage.decode(ControlMessageCodec.encode(message)) else { return .noRoute }
            Task { await admin.receive(decoded) }
            return .confirmed
        }
    }

    func add(_ node: String, streams: [String: Int], clock: @escaping @Sendable () -> Int64 = { 1000 }) {
        let kicked = Mutex<[ClientID]>([])
        let admin = ClusterAdmin(nodeID: node, directory: self, sender: Sender(cluster: self), clock: clock) { action, client in
            if action == .kick { kicked.withLock { $0.append(client) } }
            return (0..<(streams[client.rawValue] ?? 0)).map {
                ConnectionInfo(node: node, client: client, topics: [], sinceMilliseconds: Int64($0), peer: "\(node):\($0)")
            }
        }
        admins.withLock { $0[node] = admin }
    }
}

@Suite struct ClusterAdminTests {
    let client = ClientID("user-1")!

    @Test func mergesEveryNodesAnswer() async throws {
        let cluster = InMemoryCluster(routes: ["b", "c"])
        cluster.add("a", streams: [:])
        cluster.add("b", streams: ["user-1": 2])
        cluster.add("c", streams: ["user-1": 1])
        let a = try #require(cluster.admins.withLock { $0["a"] })
        let report = try await a.ask(.connections, client: client, timeout: .seconds(20))
        #expect(report.nodes.map(\.node) == ["a", "b", "c"])
        #expect(report.isComplete)
        #expect(report.connections.map(\.peer) == ["b:0", "c:0", "b:1"])
        #expect(report.connections.allSatisfy { $0.client == client })
        #expect(a.pending.count == 0)
    }

    @Test func reportsSilentAndUnreachableNodesWithoutHanging() async throws {
        let cluster = InMemoryCluster(routes: ["a", "b", "stopped", "gone"], stalled: ["stopped"], gone: ["gone"])
        cluster.add("a", streams: ["user-1": 1])
        cluster.add("b", streams: ["user-1": 1])
        let a = try #require(cluster.admins.withLock { $0["a"] })
        let report = try await a.ask(.kick, client: client, timeout: .milliseconds(200))
        #expect(!report.isComplete)
        #expect(report.nodes.map(\.status) == ["answered", "answered", "unreachable", "no_answer"])
        #expect(report.connections.count == 2)
    }

    @Test func expiredRequestsAreIgnored() async throws {
        let cluster = InMemoryCluster(routes: ["b"])
        cluster.add("a", streams: [:], clock: { 1000 })
        // b's clock is past the request's deadline: it must not act.
        cluster.add("b", streams: ["user-1": 1], clock: { 1_000_000 })
        let a = try #require(cluster.admins.withLock { $0["a"] })
        let report = try await a.ask(.kick, client: client, timeout: .milliseconds(100))
        #expect(report.nodes.map(\.status) == ["answered", "no_answer"])
    }
}
