import NIOCore

/// Where a stream's replay comes from when the history is shared by several nodes
/// (cluster mode). Standalone streams replay from the hub's own window instead.
///
/// Guarantee: `frames` holds every kept event after the cursor for the client and its
/// topics, in id order; when that cannot be promised, `reset` says why and `frames` is
/// empty.
public protocol ReplaySource: Sendable {
    func opening(client: ClientID, topics: [TopicName], lastEventID: String?) async -> ReplayOpening
}

public struct ReplayOpening: Sendable {
    public struct Frame: Sendable {
        public var sequence: UInt64
        public var frame: ByteBuffer

        public init(sequence: UInt64, frame: ByteBuffer) {
            self.sequence = sequence
            self.frame = frame
        }
    }

    /// The present: the cursor given to a stream that starts without one, and the id of a
    /// reset event.
    public var head: EventID
    public var frames: [Frame]
    /// Why the cursor cannot be honoured (`cursor_too_old`, `unknown_cursor`,
    /// `malformed_cursor`, `history_unavailable`), or `nil`.
    public var reset: String?

    public init(head: EventID, frames: [Frame] = [], reset: String? = nil) {
        self.head = head
        self.frames = frames
        self.reset = reset
    }
}
