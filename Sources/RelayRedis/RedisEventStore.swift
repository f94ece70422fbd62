import Foundation
import NIOCore
import RelayCore
import Synchronization

/// The cluster's shared history and id source, in Redis.
///
/// Guarantees: ids are unique and increasing across the whole cluster (one `INCR`); an
/// event is in its stream's history before anyone is told its id; `stamp` costs one
/// round trip whatever the batch size (and concurrent calls share round trips, see
/// ``RedisClient``); replay is exact or answers with a reset reason.
public final class RedisEventStore: ReplaySource, Sendable {
    public struct Configuration: Sendable {
        public var nodeID: String
        public var historySize: Int
        public var historyAge: Duration

        public init(nodeID: String, historySize: Int, historyAge: Duration) {
            self.nodeID = nodeID
            self.historySize = historySize
            self.historyAge = historyAge
        }
    }

    /// What `stamp` learned about one event.
    public struct Stamp: Sendable, Equatable {
        public var id: EventID
        /// Other live nodes holding the event's target.
        public var nodes: [String]
    }

    public let configuration: Configuration
    private let client: RedisClient
    private let prefix: String
    private let publishScript: RedisScriptRunner
    private let replayScript: RedisScriptRunner
    /// Stamp calls waiting for the script call that will carry them (see ``submitStamp(_:completion:)``).
    private let waitingStamps = Mutex<[StampCall]>([])

    private struct StampCall: Sendable {
        var events: [(target: Target, body: ByteBuffer)]
        var completion: @Sendable (Result<[Stamp], any Error>) -> Void
    }

    /// The calls one script call carries, fixed when the worker first builds it (a reload
    /// of the script builds it again from the same calls).
    private final class StampFlight: Sendable {
        private let state = Mutex<(calls: [StampCall], arguments: [[UInt8]])?>(nil)

        func arguments(taking take: () -> [StampCall], build: ([StampCall]) -> [[UInt8]]) -> [[UInt8]] {
            state.withLock { state in
                if let state { return state.arguments }
                let calls = take()
                let arguments = build(calls)
                state = (calls, arguments)
                return arguments
            }
        }

        /// The calls it carried, or, if it was never built, the ones still waiting.
        func takeCalls(orWaiting take: () -> [StampCall]) -> [StampCall] {
            state.withLock { state in state?.calls ?? take() }
        }
    }

    public init(client: RedisClient, configuration: Configuration) {
        self.client = client
        self.configuration = configuration
        self.prefix = client.configuration.keyPrefix
        self.publishScript = RedisScriptRunner(client: client, source: RedisScripts.publish)
        self.replayScript = RedisScriptRunner(client: client, source: RedisScripts.replay)
    }

    private var ageMilliseconds: Int64 { configuration.historyAge.milliseconds }

    /// Gives each event its id, keeps it in the shared history, and finds the other nodes
    /// that hold its target.
    ///
    /// - Parameter events: each target with its frame body (``SSEEncoder/body(_:)``).
    public func stamp(_ events: [(target: Target, body: ByteBuffer)]) async throws -> [Stamp] {
        try await withCheckedThrowingContinuation { continuation in
            submitStamp(events) { continuation.resume(with: $0) }
        }
    }

    /// The same, queued in the Redis client's order: calls made one after another get
    /// increasing ids even when the first has not been answered yet. `completion` runs as
    /// ``RedisClient/submit(_:completion:)``'s does (on the worker thread, in order).
    ///
    /// Calls that pile up while Redis is busy share one script call: each call has a fixed
    /// cost in Redis (the script's start, its epoch and counter commands) that a single
    /// event would otherwise pay alone.
    public func submitStamp(_ events: [(target: Target, body: ByteBuffer)], completion: @escaping @Sendable (Result<[Stamp], any Error>) -> Void) {
        let opensFlight = waitingStamps.withLock { waiting in
            waiting.append(StampCall(events: events, completion: completion))
            return waiting.count == 1
        }
        // Later calls ride along with the first until the worker takes them.
        guard opensFlight else { return }
        let flight = StampFlight()
        publishScript.submit(building: { [self] in
            flight.arguments(taking: takeWaitingStamps) { calls in scriptArguments(for: calls.flatMap(\.events)) }
        }) { [self] result in
            // Refused before the worker took anything: the calls are still waiting here.
            let calls = flight.takeCalls(orWaiting: takeWaitingStamps)
            let total = calls.reduce(0) { $0 + $1.events.count }
            switch result.flatMap({ reply in Result { try Self.stamps(from: reply, count: total) } }) {
            case .success(let stamps):
                var offset = 0
                for call in calls {
                    call.completion(.success(Array(stamps[offset..<(offset + call.events.count)])))
                    offset += call.events.count
                }
            case .failure(let error):
                for call in calls { call.completion(.failure(error)) }
            }
        }
    }

    private func takeWaitingStamps() -> [StampCall] {
        waitingStamps.withLock { waiting in
            defer { waiting = [] }
            return waiting
        }
    }

    private func scriptArguments(for events: [(target: Target, body: ByteBuffer)]) -> [[UInt8]] {
        var arguments: [[UInt8]] = [
            Array(prefix.utf8), Array(configuration.nodeID.utf8),
            Array(String(configuration.historySize).utf8), Array(String(ageMilliseconds).utf8),
            Array(String(Self.nowMilliseconds()).utf8),
            // Checkpoints at most once a second: keep at least twice the window's worth.
            Array(String(max(2000, ageMilliseconds / 500)).utf8),
        ]
        arguments.reserveCapacity(arguments.count + events.count * 3)
        for event in events {
            switch event.target {
            case .client(let id):
                arguments.append(Array("c".utf8))
                arguments.append(Array(id.rawValue.utf8))
            case .topic(let topic):
                arguments.append(Array("t".utf8))
                arguments.append(Array(topic.rawValue.utf8))
            }
            arguments.append(Array(event.body.readableBytesView))
        }
        return arguments
    }

    private static func stamps(from reply: RedisValue, count: Int) throws -> [Stamp] {
        if let message = reply.errorMessage { throw RedisError.unavailable("publish script failed: \(message)") }
        guard let values = reply.array, values.count == count + 1, let epoch = values[0].integer.map(UInt64.init) else {
            throw RedisError.unavailable("publish script answered in an unexpected shape")
        }
        return try values.dropFirst().map { value in
            guard let pair = value.array, pair.count == 2, let sequence = pair[0].integer, let nodes = pair[1].array else {
                throw RedisError.unavailable("publish script answered in an unexpected shape")
            }
            return Stamp(id: EventID(epoch: epoch, sequence: UInt64(sequence)), nodes: nodes.compactMap(\.string))
        }
    }

    public func opening(client: ClientID, topics: [TopicName], lastEventID: String?) async -> ReplayOpening {
        var cursor: EventID?
        var malformed = false
        if let lastEventID {
            cursor = EventID(lastEventID)
            malformed = cursor == nil
        }
        var arguments: [[UInt8]] = [
            Array(prefix.utf8),
            Array(String(cursor.map { Int64(clamping: $0.sequence) } ?? -1).utf8),
            Array(String(ageMilliseconds).utf8),
            Array(String(Self.nowMilliseconds()).utf8),
            Array("c:\(client.rawValue)".utf8),
        ]
        arguments.append(contentsOf: topics.map { Array("t:\($0.rawValue)".utf8) })
        do {
            let reply = try await replayScript.run(arguments)
            guard let values = reply.array, values.count == 4, let head = values[1].integer, let frames = values[3].array else {
                throw RedisError.unavailable("replay script failed: \(reply.errorMessage ?? "unexpected reply")")
            }
            let epoch = values[0].integer.map(UInt64.init) ?? 0
            let headID = EventID(epoch: epoch, sequence: UInt64(head))
            if malformed { return ReplayOpening(head: headID, reset: "malformed_cursor") }
            if let cursor, cursor.epoch != epoch { return ReplayOpening(head: headID, reset: "unknown_cursor") }
            if let reset = values[2].string, !reset.isEmpty { return ReplayOpening(head: headID, reset: reset) }
            var replayed: [ReplayOpening.Frame] = []
            replayed.reserveCapacity(frames.count / 2)
            var index = 0
            while index + 1 < frames.count {
                if let sequence = frames[index].integer, case .bulk(let bytes) = frames[index + 1] {
                    replayed.append(.init(sequence: UInt64(sequence), frame: ByteBuffer(bytes: bytes)))
                }
                index += 2
            }
            if topics.count > 0 { replayed.sort { $0.sequence < $1.sequence } }
            return ReplayOpening(head: headID, frames: replayed)
        } catch {
            // Without the history the relay cannot promise anything: say so.
            return ReplayOpening(head: cursor ?? EventID(epoch: 0, sequence: 0), reset: lastEventID == nil ? nil : "history_unavailable")
        }
    }

    static func nowMilliseconds() -> Int64 {
        Int64(Date().timeIntervalSince1970 * 1000)
    }
}
