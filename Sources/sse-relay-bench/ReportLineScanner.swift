/// Reads the relay's publish reports (one JSON object, or NDJSON with a line per published line)
/// without decoding JSON: per line it notes whether there is an `"error"` object, whether that
/// error is `client_not_connected` (the relay working as designed, counted apart), and the
/// `"delivered":N` count, which is what the relay says it queued to local connections.
struct ReportLineScanner {
    enum Kind {
        case ok
        case notConnected
        case failed
    }

    private var error = Needle(#""error""#)
    private var notConnected = Needle("client_not_connected")
    private var deliveredKey = Needle(#""delivered":"#)
    private var delivered = 0
    private var lineHasBytes = false

    mutating func feed(_ bytes: UnsafeRawBufferPointer, _ onLine: (Kind, Int) -> Void) {
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                finish(onLine)
                continue
            }
            lineHasBytes = true
            if deliveredKey.found {
                let digit = byte &- UInt8(ascii: "0")
                if digit < 10 {
                    delivered = delivered &* 10 &+ Int(digit)
                    continue
                }
            } else {
                deliveredKey.advance(byte)
            }
            error.advance(byte)
            notConnected.advance(byte)
        }
    }

    /// Ends the current line: a single JSON report need not end with a newline.
    mutating func finish(_ onLine: (Kind, Int) -> Void) {
        guard lineHasBytes else { return }
        let kind: Kind = notConnected.found ? .notConnected : (error.found ? .failed : .ok)
        onLine(kind, delivered)
        error.reset()
        notConnected.reset()
        deliveredKey.reset()
        delivered = 0
        lineHasBytes = false
    }

    /// Substring matcher for needles whose only border is their first byte, where restarting on
    /// a mismatch is exact.
    private struct Needle {
        let bytes: [UInt8]
        var matched = 0
        var found = false

        init(_ text: String) {
            bytes = Array(text.utf8)
        }

        @inline(__always)
        mutating func advance(_ byte: UInt8) {
            if found { return }
            if byte == bytes[matched] {
                matched += 1
            } else {
                matched = byte == bytes[0] ? 1 : 0
            }
            if matched == bytes.count {
                found = true
            }
        }

        mutating func reset() {
            matched = 0
            found = false
        }
    }
}
