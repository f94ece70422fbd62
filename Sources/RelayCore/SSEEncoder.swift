import NIOCore

/// Turns events into `text/event-stream` bytes.
///
/// The one safety rule: a payload can never add a field or an event. Every CR, LF and CRLF
/// in data starts a new `data:` line (a conforming parser joins them back with LF), and event
/// names with line breaks are refused before they get here (``Event/validate(maxSize:)``).
/// Every frame is complete, ending with the blank line that dispatches it, so frames can be
/// written, stored and replayed independently.
public enum SSEEncoder {
    /// The event name a stream receives when its cursor cannot be honoured: the application
    /// should resynchronise. Its `id` moves the browser's cursor to the present.
    public static let resetEventName = "sse-relay.reset"

    /// An SSE comment: proxies and browsers see traffic, parsers dispatch nothing.
    public static let keepAlive: ByteBuffer = ByteBuffer(string: ":\n\n")

    /// Appends one complete event frame.
    public static func encode(_ event: Event, id: EventID, into buffer: inout ByteBuffer) {
        buffer.reserveCapacity(minimumWritableBytes: estimatedSize(of: event))
        writeIDLine(id, into: &buffer)
        writeBody(event, into: &buffer)
    }

    /// One event as its own buffer, ready to be shared by every connection it goes to.
    public static func frame(_ event: Event, id: EventID, allocator: ByteBufferAllocator = .init()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: estimatedSize(of: event))
        encode(event, id: id, into: &buffer)
        return buffer
    }

    /// An event's frame without its `id:` line, for when the id is assigned elsewhere (the
    /// cluster's publish script prepends it). `frame(id:body:)` of this equals
    /// `frame(_:id:)`.
    public static func body(_ event: Event) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(estimatedSize(of: event))
        writeBody(event, into: &buffer)
        return buffer
    }

    /// Everything after the `id:` line, through the blank line that dispatches the event.
    private static func writeBody(_ event: Event, into buffer: inout ByteBuffer) {
        if let name = event.name {
            buffer.writeStaticString("event: ")
            buffer.writeString(name)
            buffer.writeInteger(UInt8(ascii: "\n"))
        }
        if let retry = event.retry {
            buffer.writeStaticString("retry: ")
            buffer.writeDecimal(UInt64(clamping: retry))
            buffer.writeInteger(UInt8(ascii: "\n"))
        }
        writeData(event.data, into: &buffer)
        buffer.writeInteger(UInt8(ascii: "\n"))
    }

    /// Prepends the `id:` line to a body from ``body(_:)``.
    public static func frame(id: EventID, body: ByteBuffer) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(body.readableBytes + 48)
        writeIDLine(id, into: &buffer)
        var body = body
        buffer.writeBuffer(&body)
        return buffer
    }

    private static func writeIDLine(_ id: EventID, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("id: ")
        buffer.writeDecimal(id.epoch)
        buffer.writeInteger(UInt8(ascii: "-"))
        buffer.writeDecimal(id.sequence)
        buffer.writeInteger(UInt8(ascii: "\n"))
    }

    /// The first bytes of every stream, flushed at once so proxies open the stream.
    ///
    /// `cursor` is sent when the stream starts without one: an `id:` line dispatches no event
    /// but sets the browser's last event id, so a stream that drops before its first event
    /// still resumes from here instead of from nothing.
    public static func preamble(retry: Int, cursor: EventID?) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeStaticString("retry: ")
        buffer.writeDecimal(UInt64(clamping: retry))
        buffer.writeStaticString("\n: sse-relay stream open\n")
        if let cursor {
            buffer.writeStaticString("id: ")
            buffer.writeString(cursor.description)
            buffer.writeInteger(UInt8(ascii: "\n"))
        }
        buffer.writeInteger(UInt8(ascii: "\n"))
        return buffer
    }

    /// A bare `id:` line: dispatches nothing, moves the browser's cursor.
    public static func cursor(_ id: EventID) -> ByteBuffer {
        var buffer = ByteBuffer()
        writeIDLine(id, into: &buffer)
        buffer.writeInteger(UInt8(ascii: "\n"))
        return buffer
    }

    /// The event that tells a stream its cursor could not be honoured. `reason` and the
    /// refused cursor travel as JSON data so the application can log them.
    public static func reset(at head: EventID, reason: String, lastEventID: String) -> ByteBuffer {
        var data = #"{"reason":""# + reason + #"","lastEventId":"#
        data += JSONText.quoted(lastEventID) + "}"
        return frame(Event(name: resetEventName, data: data), id: head)
    }

    /// A short `retry:` hint sent before the relay closes a stream on purpose, so browsers
    /// come back quickly (and spread out by the caller's timing, not ours).
    public static func retryHint(milliseconds: Int) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeStaticString("retry: ")
        buffer.writeDecimal(UInt64(clamping: milliseconds))
        buffer.writeStaticString("\n\n")
        return buffer
    }

    static func estimatedSize(of event: Event) -> Int {
        // id line, optional fields, and one "data: " prefix per line; 8 lines is a guess that
        // avoids a reallocation for typical payloads.
        64 + (event.name?.utf8.count ?? 0) + event.data.utf8.count + 6 * 8
    }

    private static func writeData(_ data: String, into buffer: inout ByteBuffer) {
        var data = data
        data.withUTF8 { bytes in
            var lineStart = 0
            var index = 0
            let count = bytes.count
            while index < count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
                    buffer.writeStaticString("data: ")
                    buffer.writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[lineStart..<index])))
                    buffer.writeInteger(UInt8(ascii: "\n"))
                    // CRLF is one break, not two.
                    if byte == UInt8(ascii: "\r"), index + 1 < count, bytes[index + 1] == UInt8(ascii: "\n") {
                        index += 1
                    }
                    lineStart = index + 1
                }
                index += 1
            }
            buffer.writeStaticString("data: ")
            buffer.writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[lineStart..<count])))
            buffer.writeInteger(UInt8(ascii: "\n"))
        }
    }
}

extension ByteBuffer {
    /// Writes an unsigned integer in decimal without going through `String`.
    @inlinable
    public mutating func writeDecimal(_ value: UInt64) {
        if value < 10 {
            writeInteger(UInt8(ascii: "0") + UInt8(value))
            return
        }
        var digits: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)  // 32 bytes: room for 20 digits
        var count = 0
        var remaining = value
        withUnsafeMutableBytes(of: &digits) { scratch in
            while remaining > 0 {
                scratch[31 - count] = UInt8(ascii: "0") + UInt8(remaining % 10)
                remaining /= 10
                count += 1
            }
            writeBytes(UnsafeRawBufferPointer(rebasing: scratch[(32 - count)...]))
        }
    }
}
