/// An independent `text/event-stream` parser, written from the WHATWG HTML standard
/// (§9.2.6 "Interpreting an event stream", §9.2.5 "Parsing an event stream") and nothing
/// else, so the encoder is checked against the spec rather than against itself.
///
/// Why not `mattt/EventSource`'s `Parser`: it strips a BOM at the start of every line (the
/// spec strips one only at the start of the stream) and joins `data:` lines with LF only
/// once the buffer is non-empty, so `data:` lines that start with empty lines lose them —
/// it would report our encoder wrong where the encoder is right. (It also compares
/// `Character`s, so a combining mark after `data: ` hides the space; see `process`.)
struct EventStreamSpecParser {
    struct Dispatched: Equatable, CustomStringConvertible {
        var type: String
        var data: String
        var lastEventID: String

        var description: String { "type=\(type.debugDescription) data=\(data.debugDescription) id=\(lastEventID.debugDescription)" }

        /// Byte for byte: `String`'s own `==` treats canonically equivalent text as equal,
        /// which would hide an encoder that rewrote code points.
        static func == (lhs: Self, rhs: Self) -> Bool {
            lhs.type.utf8.elementsEqual(rhs.type.utf8) && lhs.data.utf8.elementsEqual(rhs.data.utf8)
                && lhs.lastEventID.utf8.elementsEqual(rhs.lastEventID.utf8)
        }
    }

    /// Every field line seen (name, value), in order, for "no injected field" checks.
    private(set) var fields: [(name: String, value: String)] = []
    private(set) var events: [Dispatched] = []
    private(set) var reconnectionTime: Int?
    private var dataBuffer = ""
    private var eventTypeBuffer = ""
    private var lastEventIDBuffer = ""
    private var lastEventID = ""

    /// Parses a whole stream: decoded as UTF-8 (invalid sequences become U+FFFD), one leading
    /// BOM dropped, lines split at CRLF, LF or CR.
    static func parse(_ bytes: [UInt8]) -> EventStreamSpecParser {
        var parser = EventStreamSpecParser()
        var text = Substring(String(decoding: bytes, as: UTF8.self))
        if text.unicodeScalars.first == "\u{FEFF}" { text = Substring(text.unicodeScalars.dropFirst()) }
        var scalars = text.unicodeScalars[...]
        var line = String.UnicodeScalarView()
        while let scalar = scalars.popFirst() {
            switch scalar {
            case "\r":
                if scalars.first == "\n" { scalars.removeFirst() }
                parser.process(String(line))
                line = .init()
            case "\n":
                parser.process(String(line))
                line = .init()
            default:
                line.append(scalar)
            }
        }
        // A final line without its terminator is not processed, and an event not followed
        // by a blank line is never dispatched (spec: "at the end of the file ... discard").
        return parser
    }

    /// Works on code points, as the spec does: Swift's `Character` would glue a combining
    /// mark to the space after `data:` (or to the colon) and miss it.
    private mutating func process(_ line: String) {
        let scalars = line.unicodeScalars
        if scalars.isEmpty {
            dispatch()
            return
        }
        if scalars.first == ":" { return }
        let name: String
        var value: Substring.UnicodeScalarView
        if let colon = scalars.firstIndex(of: ":") {
            name = String(scalars[..<colon])
            value = scalars[scalars.index(after: colon)...]
            if value.first == " " { value = value.dropFirst() }
        } else {
            name = line
            value = Substring.UnicodeScalarView()
        }
        let text = String(value)
        fields.append((name, text))
        switch name {
        case "event":
            eventTypeBuffer = text
        case "data":
            dataBuffer += text
            dataBuffer += "\n"
        case "id":
            if !value.contains("\u{0}") { lastEventIDBuffer = text }
        case "retry":
            if !value.isEmpty, value.allSatisfy({ ("0"..."9").contains($0) }), let time = Int(text) { reconnectionTime = time }
        default:
            break
        }
    }

    private mutating func dispatch() {
        lastEventID = lastEventIDBuffer
        if dataBuffer.isEmpty {
            eventTypeBuffer = ""
            return
        }
        if dataBuffer.unicodeScalars.last == "\n" { dataBuffer.unicodeScalars.removeLast() }
        events.append(Dispatched(type: eventTypeBuffer.isEmpty ? "message" : eventTypeBuffer, data: dataBuffer, lastEventID: lastEventID))
        dataBuffer = ""
        eventTypeBuffer = ""
    }
}
