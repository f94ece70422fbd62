import NIOCore

/// One event on its way to (or arriving from) another node: its target, its id, and the
/// frame exactly as subscribers will receive it (encoded once, on the publishing node).
public struct ForwardedEvent: Sendable, Equatable {
    public var target: Target
    public var id: EventID
    public var frame: ByteBuffer

    public init(target: Target, id: EventID, frame: ByteBuffer) {
        self.target = target
        self.id = id
        self.frame = frame
    }
}

/// What the broker said about a batch sent to one node's queue.
public enum ForwardOutcome: Sendable, Equatable, CustomStringConvertible {
    /// The broker confirmed it routed the message to the node's queue (publisher confirm).
    case confirmed
    /// The broker has no queue for that node (it is gone, or never declared one).
    case noRoute
    /// Sent, but the broker nacked it or the connection dropped before the confirm came:
    /// the event may or may not arrive.
    case unconfirmed(String)
    /// Not sent: no broker connection right now.
    case unavailable(String)
    /// Not sent: the broker refuses publishes for now (a memory or disk alarm) and said why.
    /// Sending anyway would only queue the event in a socket nobody reads, to arrive after
    /// its publisher was told it might not.
    case blocked(String)

    /// The stable name reports use.
    public var description: String {
        switch self {
        case .confirmed: "confirmed"
        case .noRoute: "no_route"
        case .unconfirmed: "unconfirmed"
        case .unavailable: "unavailable"
        case .blocked: "blocked"
        }
    }
}

/// Sends events to other nodes through their own queues.
///
/// Guarantee: an outcome is `.confirmed` only when the broker acknowledged the message
/// with a publisher confirm and did not return it as unroutable. Events for one node are
/// sent in the order they are given, one batch per call.
public protocol EventForwarder: Sendable {
    /// Sends `events` as one batch to `node`. Batches for one node leave in the order of
    /// these calls, so a caller keeps its order without waiting for each outcome;
    /// `completion` is told the outcome exactly once, on any thread, and must not block.
    func forward(_ events: [ForwardedEvent], to node: String, completion: @escaping @Sendable (ForwardOutcome) -> Void)
}

extension EventForwarder {
    public func forward(_ events: [ForwardedEvent], to node: String) async -> ForwardOutcome {
        await withCheckedContinuation { continuation in
            forward(events, to: node) { continuation.resume(returning: $0) }
        }
    }
}

/// The records a forwarded message carries, so a bulk publish crosses the broker as one
/// message per node instead of one per event.
///
/// Layout: for each event, `c:<client id>\n` or `t:<topic>\n`, then its SSE frame. A frame
/// always ends with the blank line that dispatches it and never contains another one (the
/// encoder guarantees it), which is what delimits records. Decoding checks all of this:
/// a message from the broker is not trusted blindly.
public enum ForwardedBatchCodec {
    public enum DecodingError: Error, Equatable {
        case badTarget
        case badFrame
    }

    public static func encode(_ events: [ForwardedEvent]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(events.reduce(0) { $0 + $1.frame.readableBytes + 140 })
        for event in events {
            switch event.target {
            case .client(let id):
                buffer.writeStaticString("c:")
                buffer.writeString(id.rawValue)
            case .topic(let topic):
                buffer.writeStaticString("t:")
                buffer.writeString(topic.rawValue)
            }
            buffer.writeInteger(UInt8(ascii: "\n"))
            var frame = event.frame
            buffer.writeBuffer(&frame)
        }
        return buffer
    }

    public static func decode(_ buffer: ByteBuffer) throws(DecodingError) -> [ForwardedEvent] {
        var events: [ForwardedEvent] = []
        let view = buffer.readableBytesView
        var position = view.startIndex
        while position < view.endIndex {
            guard let lineEnd = view[position...].firstIndex(of: UInt8(ascii: "\n")), lineEnd - position >= 3 else {
                throw .badTarget
            }
            let kind = view[position]
            guard view[position + 1] == UInt8(ascii: ":") else { throw .badTarget }
            let name = String(decoding: view[(position + 2)..<lineEnd], as: UTF8.self)
            let target: Target
            switch kind {
            case UInt8(ascii: "c"):
                guard let id = ClientID(name) else { throw .badTarget }
                target = .client(id)
            case UInt8(ascii: "t"):
                guard let topic = TopicName(name) else { throw .badTarget }
                target = .topic(topic)
            default:
                throw .badTarget
            }
            // The frame runs to the first blank line.
            let frameStart = lineEnd + 1
            var index = frameStart
            var frameEnd: Int?
            while index + 1 < view.endIndex {
                if view[index] == UInt8(ascii: "\n"), view[index + 1] == UInt8(ascii: "\n") {
                    frameEnd = index + 2
                    break
                }
                index += 1
            }
            guard let frameEnd, let id = frameID(view[frameStart..<frameEnd]) else { throw .badFrame }
            let frame = buffer.getSlice(at: buffer.readerIndex + (frameStart - view.startIndex), length: frameEnd - frameStart)!
            events.append(ForwardedEvent(target: target, id: id, frame: frame))
            position = frameEnd
        }
        return events
    }

    /// A frame must start with its `id:` line (the encoder always writes it first).
    private static func frameID(_ frame: ByteBufferView.SubSequence) -> EventID? {
        let prefix: [UInt8] = Array("id: ".utf8)
        guard frame.starts(with: prefix), let lineEnd = frame.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        return EventID(String(decoding: frame[(frame.startIndex + prefix.count)..<lineEnd], as: UTF8.self))
    }
}
