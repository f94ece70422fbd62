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

    /// - Parameters:
    ///   - epoch: unique per history; standalone uses the start time in milliseconds.
    ///   - now: monotonic nanoseconds (injectable for tests).
    public init(
        history: ReplayWindow.Configuration,
        epoch: UInt64,
        now: @escaping @Sendable () -> UInt64 = { NIODeadline.now().uptimeNanoseconds }
    ) {
        self.epoch = epoch
        self.now = now
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

    /// Removes a stream. Returns true when it was its client's last connection here.
    @discardableResult
    public func close(_ subscriber: S) -> Bool {
        state.withLock { $0.table.remove(subscriber) }
    }

    /// Gives each publication an id, keeps it for replay and queues it to every local
    /// subscriber, in order. Publications are already validated.
    public func publish(_ publications: [Publication]) -> [Receipt] {
        let now = self.now()
        return state.withLock { state in
            var receipts: [Receipt] = []
            receipts.reserveCapacity(publications.count)
            // One batch per delivery queue (event loop); a node has a handful.
            var batches: [(queue: DeliveryQueue<S>, deliveries: [Delivery<S>])] = []
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
                var delivered = 0
                state.table.forEachSubscriber(of: publication.target) { subscriber in
                    delivered += 1
                    let queue = subscriber.queue
                    if let index = batches.firstIndex(where: { $0.queue === queue }) {
                        batches[index].deliveries.append(Delivery(subscriber: subscriber, frame: frame))
                    } else {
                        batches.append((queue, [Delivery(subscriber: subscriber, frame: frame)]))
                    }
                }
                receipts.append(Receipt(id: id, delivered: delivered, stored: storing))
            }
            for batch in batches {
                batch.queue.deliver(batch.deliveries)
            }
            return receipts
        }
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
