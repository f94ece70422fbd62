/// Incremental scanner for the SSE event stream, one byte at a time.
///
/// It keeps no partial-line buffer at all: the only state carried across buffers is where we are in
/// the current line (a few bytes), so an event split over any number of reads costs nothing extra
/// and a connection's parser state stays at 16 bytes. It only understands what the benchmark needs:
/// an event is dispatched at a blank line if it had a `data:` line, and a timestamp is taken from the
/// first data line when it starts with `t=<digits>`. Comments (`:`), `id:`, `event:` and `retry:`
/// lines are skipped. CRLF is accepted by ignoring CR; a lone CR as line end is not (the relay uses LF).
struct SSEScanner {
    private enum State: UInt8 {
        case lineStart
        case fieldName      // matching "data:" so far, `matched` bytes in
        case valueStart     // after "data:", one optional space
        case expectT
        case expectEquals
        case digits
        case skipLine
    }

    private static let dataField: (UInt8, UInt8, UInt8, UInt8, UInt8) = (
        UInt8(ascii: "d"), UInt8(ascii: "a"), UInt8(ascii: "t"), UInt8(ascii: "a"), UInt8(ascii: ":")
    )

    private var state = State.lineStart
    private var matched: UInt8 = 0
    private var hasData = false
    private var hasTimestamp = false
    private var timestamp: UInt64 = 0

    /// Feeds bytes and calls `onEvent` for every complete event that carried data; the argument is
    /// the event's `t=` timestamp, or nil when its data had none.
    @inline(__always)
    mutating func feed(_ bytes: UnsafeRawBufferPointer, _ onEvent: (UInt64?) -> Void) {
        let newline = UInt8(ascii: "\n")
        var i = 0
        let count = bytes.count
        while i < count {
            let byte = bytes[i]
            i += 1
            if byte == newline {
                if state == .lineStart {
                    if hasData {
                        onEvent(hasTimestamp ? timestamp : nil)
                    }
                    hasData = false
                    hasTimestamp = false
                    timestamp = 0
                }
                state = .lineStart
                continue
            }
            switch state {
            case .skipLine:
                // Most bytes of an event (id, padding) are skipped; scan to the newline in a tight loop.
                while i < count && bytes[i] != newline { i += 1 }
            case .lineStart:
                if byte == Self.dataField.0 {
                    state = .fieldName
                    matched = 1
                } else if byte != UInt8(ascii: "\r") {
                    state = .skipLine
                }
            case .fieldName:
                if byte == Self.expected(matched) {
                    matched += 1
                    if matched == 5 {
                        // Only the first data line of an event can carry the timestamp.
                        state = hasData ? .skipLine : .valueStart
                        hasData = true
                    }
                } else {
                    state = .skipLine
                }
            case .valueStart:
                if byte == UInt8(ascii: " ") {
                    state = .expectT
                } else {
                    state = byte == UInt8(ascii: "t") ? .expectEquals : .skipLine
                }
            case .expectT:
                state = byte == UInt8(ascii: "t") ? .expectEquals : .skipLine
            case .expectEquals:
                state = byte == UInt8(ascii: "=") ? .digits : .skipLine
            case .digits:
                let digit = byte &- UInt8(ascii: "0")
                if digit < 10 {
                    timestamp = timestamp &* 10 &+ UInt64(digit)
                    hasTimestamp = true
                } else if byte != UInt8(ascii: "\r") {
                    state = .skipLine
                }
            }
        }
    }

    @inline(__always)
    private static func expected(_ index: UInt8) -> UInt8 {
        switch index {
        case 0: return dataField.0
        case 1: return dataField.1
        case 2: return dataField.2
        case 3: return dataField.3
        default: return dataField.4
        }
    }
}
