import DequeModule
import NIOCore

/// The recent past of every stream, kept so a reconnecting browser gets what it missed.
///
/// One log holds every frame in sequence order (sequence numbers are contiguous, so a
/// frame is found by subtraction); each client and topic has a small index of its own
/// sequence numbers. Three limits bound it: events per stream, age, and total bytes. The
/// byte limit is what keeps memory bounded whatever publishers do (for example, events for
/// thousands of ids that never connect).
///
/// Honesty over completeness: when the window cannot prove a cursor missed nothing (the
/// cursor predates what is kept for one of its streams), ``replay(after:streams:now:)``
/// says so and the caller sends a reset instead of a partial replay.
///
/// - Important: Not thread-safe; the hub keeps it under its lock.
public struct ReplayWindow: Sendable {
    public struct Configuration: Sendable, Equatable {
        /// Events kept per client id and per topic.
        public var eventsPerStream: Int
        /// How long an event stays replayable.
        public var maxAge: Duration
        /// Total bytes of kept frames, across all streams.
        public var maxBytes: Int

        public init(eventsPerStream: Int = 100, maxAge: Duration = .seconds(300), maxBytes: Int = 64 << 20) {
            self.eventsPerStream = eventsPerStream
            self.maxAge = maxAge
            self.maxBytes = maxBytes
        }
    }

    public enum Stream: Hashable, Sendable {
        case client(ClientID)
        case topic(TopicName)
    }

    public enum Replay: Equatable, Sendable {
        /// Every frame after the cursor, in order (possibly none).
        case frames([ByteBuffer])
        /// Events after the cursor are no longer all kept.
        case cursorTooOld
    }

    struct Entry: Sendable {
        var stream: Stream
        var frame: ByteBuffer
        var storedAtNanos: UInt64
    }

    struct StreamIndex: Sendable {
        var sequences: Deque<UInt64> = []
        /// The newest sequence of this stream that is gone (or may be gone) from the window:
        /// a cursor below it cannot be replayed completely.
        var evictedThrough: UInt64

        /// Adds the newest sequence; returns the one dropped to stay within `limit`.
        mutating func push(_ sequence: UInt64, keeping limit: Int) -> UInt64? {
            sequences.append(sequence)
            guard sequences.count > limit else { return nil }
            let dropped = sequences.removeFirst()
            evictedThrough = dropped
            return dropped
        }

        /// The window dropped `sequence` (its oldest event); returns whether the index is
        /// now empty.
        mutating func evict(_ sequence: UInt64) -> Bool {
            if sequences.first == sequence {
                sequences.removeFirst()
                evictedThrough = sequence
            }
            return sequences.isEmpty
        }
    }

    /// Bytes charged per kept event besides its frame: entry, index slot, and buffer header.
    static let overheadPerEvent = 96

    public private(set) var configuration: Configuration
    private var log: Deque<Entry> = []
    /// The sequence number of `log.first`; the next appended one is `firstSequence + log.count`.
    private var firstSequence: UInt64 = 1
    private var streams: [Stream: StreamIndex] = [:]
    public private(set) var bytes = 0

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// Live limits can change on reload; the next append or replay applies them.
    public mutating func reconfigure(_ configuration: Configuration) {
        self.configuration = configuration
    }

    public var count: Int { log.count }
    public var streamCount: Int { streams.count }

    /// Keeps `frame` as `sequence` of `stream`. Sequences must arrive contiguous and
    /// increasing; the hub assigns them under the same lock.
    public mutating func append(_ frame: ByteBuffer, sequence: UInt64, to stream: Stream, now: UInt64) {
        guard configuration.eventsPerStream > 0, configuration.maxBytes > 0 else {
            // Keeping nothing: everything so far counts as evicted.
            firstSequence = sequence + 1
            return
        }
        if log.isEmpty {
            firstSequence = sequence
        }
        precondition(sequence == firstSequence + UInt64(log.count), "replay window sequences must be contiguous")
        log.append(Entry(stream: stream, frame: frame, storedAtNanos: now))
        bytes += frame.readableBytes + Self.overheadPerEvent
        let horizon = firstSequence - 1
        // Changed in place (one hash, no copy of the index's storage): this runs per event.
        if let dropped = streams[stream, default: StreamIndex(evictedThrough: horizon)].push(sequence, keeping: configuration.eventsPerStream) {
            // The log keeps a small entry until age or the byte cap removes it; the frame
            // itself goes now, so memory follows the per-stream limit.
            let position = Int(dropped - firstSequence)
            bytes -= log[position].frame.readableBytes
            log[position].frame = ByteBuffer()
        }
        evict(now: now)
    }

    /// The frames after `cursor` for the union of `streams`, merged in sequence order.
    ///
    /// - Parameters:
    ///   - cursor: the last sequence the subscriber saw (of this window's epoch).
    public mutating func replay(after cursor: UInt64, streams wanted: [Stream], now: UInt64) -> Replay {
        evict(now: now)
        var sequences: [UInt64] = []
        for stream in wanted {
            guard let index = streams[stream] else {
                // Nothing kept for the stream: fine only if nothing can have been evicted
                // after the cursor.
                if cursor + 1 < firstSequence { return .cursorTooOld }
                continue
            }
            if cursor < index.evictedThrough { return .cursorTooOld }
            // Walk from the newest end: a reconnect usually missed only a few events.
            var position = index.sequences.endIndex
            while position > index.sequences.startIndex, index.sequences[position - 1] > cursor {
                position -= 1
            }
            sequences.append(contentsOf: index.sequences[position...])
        }
        if wanted.count > 1 { sequences.sort() }
        return .frames(sequences.map { log[Int($0 - firstSequence)].frame })
    }

    private mutating func evict(now: UInt64) {
        let maxAgeNanos = UInt64(clamping: configuration.maxAge.nanoseconds)
        while let oldest = log.first,
            bytes > configuration.maxBytes || now &- oldest.storedAtNanos > maxAgeNanos
        {
            log.removeFirst()
            bytes -= oldest.frame.readableBytes + Self.overheadPerEvent
            let sequence = firstSequence
            firstSequence += 1
            // The stream's index may already have dropped it (per-stream cap). Changed in
            // place: a copy of the index would copy its storage, once per evicted event.
            if let slot = streams.index(forKey: oldest.stream), streams.values[slot].evict(sequence) {
                streams.remove(at: slot)
            }
        }
    }
}
