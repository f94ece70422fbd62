import NIOCore
import Testing

@testable import RelayCore

/// Golden tests: the exact bytes for tricky payloads. The integration suite parses the
/// same shapes back with an independent SSE parser.
@Suite struct SSEEncoderTests {
    let id = EventID(epoch: 7, sequence: 42)

    func encoded(_ event: Event) -> String {
        String(buffer: SSEEncoder.frame(event, id: id))
    }

    @Test func plainEvent() {
        #expect(encoded(Event(data: "hello")) == "id: 7-42\ndata: hello\n\n")
    }

    @Test func namedEventWithRetry() {
        #expect(encoded(Event(name: "greet", data: "hi", retry: 1500)) == "id: 7-42\nevent: greet\nretry: 1500\ndata: hi\n\n")
    }

    @Test(arguments: [
        ("a\nb", "data: a\ndata: b\n"),
        ("a\rb", "data: a\ndata: b\n"),
        ("a\r\nb", "data: a\ndata: b\n"),
        ("a\n\rb", "data: a\ndata: \ndata: b\n"),
        ("a\r\n\r\nb", "data: a\ndata: \ndata: b\n"),
        ("\n", "data: \ndata: \n"),
        ("", "data: \n"),
        ("trailing\n", "data: trailing\ndata: \n"),
        ("x\n\nevent: evil\ndata: y", "data: x\ndata: \ndata: event: evil\ndata: data: y\n"),
        ("nul\u{0}inside", "data: nul\u{0}inside\n"),
        ("ünïcødé ✓ 🎉", "data: ünïcødé ✓ 🎉\n"),
        (" leading space", "data:  leading space\n"),
    ])
    func lineBreaksNeverEscapeTheDataField(data: String, expected: String) {
        #expect(encoded(Event(data: data)) == "id: 7-42\n" + expected + "\n")
    }

    @Test func longLineIsOneDataLine() {
        let long = String(repeating: "x", count: 100_000)
        let frame = encoded(Event(data: long))
        #expect(frame == "id: 7-42\ndata: \(long)\n\n")
    }

    @Test func everyFrameEndsWithExactlyOneBlankLine() {
        for data in ["", "a", "a\n", "a\r", "\r\n\r\n"] {
            let frame = encoded(Event(data: data))
            #expect(frame.hasSuffix("\n\n"))
            #expect(!frame.dropLast(2).contains("\n\n"), "only the terminator may dispatch: \(data.debugDescription)")
        }
    }

    @Test func preambleCarriesRetryAndOptionalCursor() {
        #expect(String(buffer: SSEEncoder.preamble(retry: 2000, cursor: nil)) == "retry: 2000\n: sse-relay stream open\n\n")
        #expect(String(buffer: SSEEncoder.preamble(retry: 0, cursor: id)) == "retry: 0\n: sse-relay stream open\nid: 7-42\n\n")
    }

    @Test func resetEventEscapesTheRefusedCursor() {
        let frame = String(buffer: SSEEncoder.reset(at: id, reason: "malformed_cursor", lastEventID: "bad\"\n"))
        #expect(frame == "id: 7-42\nevent: sse-relay.reset\ndata: {\"reason\":\"malformed_cursor\",\"lastEventId\":\"bad\\\"\\n\"}\n\n")
    }

    @Test(arguments: [0, 9, 10, 99, 100, 12345, UInt64.max])
    func decimalWriting(value: UInt64) {
        var buffer = ByteBuffer()
        buffer.writeDecimal(value)
        #expect(String(buffer: buffer) == String(value))
    }
}

@Suite struct EventValidationTests {
    @Test func namesWithLineBreaksAreRefused() {
        #expect(throws: EventValidationError.nameHasLineBreak) { try Event(name: "a\nb", data: "").validate(maxSize: 100) }
        #expect(throws: EventValidationError.nameHasLineBreak) { try Event(name: "a\rb", data: "").validate(maxSize: 100) }
        #expect(throws: EventValidationError.nameEmpty) { try Event(name: "", data: "").validate(maxSize: 100) }
    }

    @Test func sizeCountsDataAndNameInBytes() throws {
        try Event(name: "ab", data: "é").validate(maxSize: 4)
        #expect(throws: EventValidationError.tooLarge(size: 5, limit: 4)) { try Event(name: "abc", data: "é").validate(maxSize: 4) }
    }

    @Test func retryMustBeReasonable() {
        #expect(throws: EventValidationError.retryOutOfRange(-1)) { try Event(data: "", retry: -1).validate(maxSize: 10) }
    }
}
