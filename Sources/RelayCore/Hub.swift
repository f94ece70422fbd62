import NIOCore
import Synchronization

/// This node's fan-out: subscribers, event ids, and the replay window, under one lock.
///
/// One lock is the design, not an accident: assigning an id, keeping the frame for replay
/// and queueing it to every subscriber happen as one step, and so does opening a stream
/// (register + replay snapshot). That is what makes replay exact: a stream sees every event
/// after its cursor once, in id order, whether it came from the snapshot or live. The lock is
/// held for microseconds (encode once, append pointers to per-loop batches); writes to
/// sockets happen later on each connection's event loop.
public final class Hub<S: Subscriber>: Sendable {
    /// What happened to one publication on this node.
    public struct Receipt: Sendable, Equatable {
        public var id: EventID
        /// Connections the frame was queued to.
        public var delivered: Int
        /// Whether the event is in the replay window.
        public var stored: Bool
    }

    /// The bytes a new stream starts with, before any live event.
    public struct Opening: Sendable {
        public var frames: [ByteBuffer]
        /// Events replayed from the window.
        public var replayed: Int
        /// Set when the stream's cursor could not be honoured and a reset event was sent.
        public var resetReason: String?
    }

    private struct State: Sendable {
        var table = SubscriberTable<S>()
        var window: ReplayWindow
        var nextSequence: UInt64 = 1
    }

    /// Names this process's history; see ``EventID``.
    public let epoch: UInt64
    private let state: Mutex<State>
    private let now: @Sendable () -> UInt64
    /// Told (outside the lock) which client ids and topics gained or lost their first or
    /// last local connection; a cluster registry re-reads ``holds(_:)`` to act on it, so
    /// the order in which notifications from different threads arrive does not matter.
    private let membershipChanged: @Sendable (MembershipChange) -> Void
    /// Counts frames queued to local streams, once per call.
    public let metrics: RelayMetrics

    /// - Parameters:
    ///   - epoch: unique per history; standalone uses the start time in milliseconds.
    ///   - now: monotonic nanoseconds (injectable for tests).
    public init(
        history: ReplayWindow.Configuration,
        epoch: UInt64,
        now: @escaping @Sendable () -> UInt64 = { NIODeadline.now().uptimeNanoseconds },
        membershipChanged: @escaping @Sendable (MembershipChange) -> Void = { _ in },
        metrics: RelayMetrics = RelayMetrics()
    ) {
        self.metrics = metrics
        self.epoch = epoch
        self.now = now
        self.membershipChanged = membershipChanged
        self.state = Mutex(State(window: ReplayWindow(configuration: history)))
    }

    /// Registers a stream and returns what it must write before live events: the preamble,
    /// then either the replay after `cursor` or one reset event.
    ///
    /// - Important: Call on the subscriber's own execution context (its event loop) and
    ///   write the returned frames before yielding it: live events for the stream are
    ///   queued from the moment this returns.
    public func open(_ subscriber: S, lastEventID: String?, retry: Int) -> Opening {
        let now = self.now()
        defer { membershipChanged(MembershipChange(client: subscriber.clientID, topics: subscriber.topics)) }
        return state.withLock { state in
            state.table.insert(subscriber)
            let head = EventID(epoch: epoch, sequence: state.nextSequence - 1)
            guard let lastEventID else {
                return Opening(frames: [SSEEncoder.preamble(retry: retry, cursor: head)], replayed: 0)
            }
            let preamble = SSEEncoder.preamble(retry: retry, cursor: nil)
            func reset(_ reason: String) -> Opening {
                let frame = SSEEncoder.reset(at: head, reason: reason, lastEventID: String(lastEventID.prefix(128)))
                return Opening(frames: [preamble, frame], replayed: 0, resetReason: reason)
            }
            guard let cursor = EventID(lastEventID) else { return reset("malformed_cursor") }
            guard cursor.epoch == epoch, cursor.sequence <= head.sequence else { return reset("unknown_cursor") }
            var streams = [ReplayWindow.Stream.client(subscriber.clientID)]
            streams.append(contentsOf: subscriber.topics.map { .topic($0) })
            switch state.window.replay(after: cursor.sequence, streams: streams, now: now) {
            case .cursorTooOld:
                return reset("cursor_too_old")
            case .frames(let frames):
                return Opening(frames: [preamble] + frames, replayed: frames.count)
            }
        }
    }

    /// Registers a stream whose replay comes from elsewhere (cluster mode: the shared
    /// history). Live events are queued to it from now on; the caller fetches the replay and
    /// drops live events the replay already contained.
    public func attach(_ subscriber: S) {
        state.withLock { _ = $0.table.insert(subscriber) }
        membershipChanged(MembershipChange(client: subscriber.clientID, topics: subscriber.topics))
    }

    /// Removes a stream. Returns true when it was its client's last connection here.
    @discardableResult
    public func close(_ subscriber: S) -> Bool {
        let last = state.withLock { $0.table.remove(subscriber) }
        membershipChanged(MembershipChange(client: subscriber.clientID, topics: subscriber.topics))
        return last
    }

    /// Queues events that already have ids (stamped by the cluster's shared history) to the
    /// local subscribers of their targets. Returns how many connections each went to.
    public func deliver(_ events: [ForwardedEvent]) -> [Int] {
        let counts = state.withLock { state in
            var batches = Batches()
            var counts: [Int] = []
            counts.reserveCapacity(events.count)
            for event in events {
                counts.append(batches.add(event.frame, sequence: event.id.sequence, for: event.target, from: state.table))
            }
            batches.flush()
            return counts
        }
        metrics.recordDelivered(counts.reduce(0, +))
        return counts
    }

    /// Whether this node holds a connection for `client` (the registry's source of truth).
    public func holds(_ client: ClientID) -> Bool { state.withLock { $0.table.holds(client) } }
    public func holds(_ topic: TopicName) -> Bool { state.withLock { $0.table.holds(topic) } }

    /// Every client id and topic with a connection here, for registry heartbeats.
    public var membership: (clients: [ClientID], topics: [TopicName]) {
        state.withLock { (Array($0.table.clientIDs), Array($0.table.topicNames)) }
    }

    /// Gives each publication an id, keeps it for replay and queues it to every local
    /// subscriber, in order. Publications are already validated.
    public func publish(_ publications: [Publication]) -> [Receipt] {
        let now = self.now()
        let receipts = state.withLock { state in
            var receipts: [Receipt] = []
            receipts.reserveCapacity(publications.count)
            var batches = Batches()
            let storing = state.window.configuration.eventsPerStream > 0 && state.window.configuration.maxBytes > 0
            for publication in publications {
                let sequence = state.nextSequence
                state.nextSequence += 1
                let id = EventID(epoch: epoch, sequence: sequence)
                let frame = SSEEncoder.frame(publication.event, id: id)
                let stream: ReplayWindow.Stream =
                    switch publication.target {
                    case .client(let client): .client(client)
                    case .topic(let topic): .topic(topic)
                    }
                state.window.append(frame, sequence: sequence, to: stream, now: now)
                let delivered = batches.add(frame, sequence: sequence, for: publication.target, from: state.table)
                receipts.append(Receipt(id: id, delivered: delivered, stored: storing))
            }
            batches.flush()
            return receipts
        }
        metrics.recordDelivered(receipts.reduce(0) { $0 + $1.delivered })
        return receipts
    }

    public func subscribers(of client: ClientID) -> [S] {
        state.withLock { $0.table.subscribers(of: client) }
    }

    public var allSubscribers: [S] {
        state.withLock { $0.table.allSubscribers }
    }

    public var statistics: HubStatistics {
        state.withLock { state in
            HubStatistics(
                connections: state.table.connectionCount,
                clients: state.table.clientCount,
                topics: state.table.topicCount,
                historyEvents: state.window.count,
                historyBytes: state.window.bytes,
                lastEventID: EventID(epoch: epoch, sequence: state.nextSequence - 1)
            )
        }
    }

    /// Applies new history limits (from a configuration reload) from the next event on.
    public func reconfigure(history: ReplayWindow.Configuration) {
        state.withLock { $0.window.reconfigure(history) }
    }
}

extension Hub {
    /// Frames grouped per delivery queue (event loop): a node has a handful of queues, so a
    /// linear search beats hashing.
    fileprivate struct Batches {
        var batches: [(queue: DeliveryQueue<S>, deliveries: [Delivery<S>])] = []

        /// Adds `frame` for every local subscriber of `target`; returns how many.
        mutating func add(_ frame: ByteBuffer, sequence: UInt64, for target: Target, from table: SubscriberTable<S>) -> Int {
            var count = 0
            table.forEachSubscriber(of: target) { subscriber in
                count += 1
                let delivery = Delivery(subscriber: subscriber, frame: frame, sequence: sequence)
                let queue = subscriber.queue
                if let index = batches.firstIndex(where: { $0.queue === queue }) {
                    batches[index].deliveries.append(delivery)
                } else {
                    batches.append((queue, [delivery]))
                }
            }
            return count
        }

        /// Hands every batch to its queue. Runs under the hub's lock: see ``DeliveryQueue``.
        func flush() {
            for batch in batches {
                batch.queue.deliver(batch.deliveries)
            }
        }
    }
}

/// Which client id and topics a connection change touched.
public struct MembershipChange: Sendable, Equatable {
    public var client: ClientID
    public var topics: [TopicName]

    public init(client: ClientID, topics: [TopicName]) {
        self.client = client
        self.topics = topics
    }
}

/// Counts from a hub, for health and status answers.
public struct HubStatistics: Sendable, Equatable {
    public var connections: Int
    public var clients: Int
    public var topics: Int
    public var historyEvents: Int
    public var historyBytes: Int
    public var lastEventID: EventID

    public init(connections: Int, clients: Int, topics: Int, historyEvents: Int, historyBytes: Int, lastEventID: EventID) {
        self.connections = connections
        self.clients = clients
        self.topics = topics
        self.historyEvents = historyEvents
        self.historyBytes = historyBytes
        self.lastEventID = lastEventID
    }
}
