import Foundation
import NIOCore
import PropertyBased
import Testing

@testable import RelayCore

/// For any data, event name, retry and id, what the encoder writes parses back — with an
/// independent, spec-following parser — to exactly the event that was encoded: no payload
/// can add a field, end an event early or start another one.
///
/// What the spec cannot carry is normalised, never injected: an event stream has no way to
/// express a bare CR or a CRLF inside data (both end a line), so every CR, LF and CRLF in
/// data arrives as LF. Names with CR or LF are refused by `Event.validate` before encoding.
@Suite struct SSEEncoderPropertyTests {
    /// Inputs per property; raise with SSE_RELAY_PROPERTY_COUNT for long runs.
    static let count = Int(ProcessInfo.processInfo.environment["SSE_RELAY_PROPERTY_COUNT"] ?? "") ?? 2_000

    /// The pieces hostile payloads are made of, besides random Unicode scalars: every line
    /// terminator, things that look like fields or comments, NUL, BOM, empty lines.
    static let pieces: [String] = [
        "\n", "\r", "\r\n", "\n\r", "\r\r", "\n\n", "\u{0}", "\u{FEFF}", ":", ": ", " ", "",
        "data:", "data: x", "event:", "event: evil", "id:", "id: 99-99", "retry:", "retry: 1",
        "\ndata: injected\n\n", "\r\n\r\nevent: evil\r\n", "a", "é", "😀", "\u{85}", "\u{2028}", "\t",
        "\u{301}", "\u{A806}", "\u{200D}",  // combining marks and a joiner: glue to a preceding space or colon
    ]

    /// A string of up to `maximum` tokens; 5 in 8 tokens are hostile pieces, the rest random
    /// scalars from the whole Unicode range.
    static func hostile(_ maximum: Int) -> Generator<String, some SendableSequenceType> {
        Gen<UInt32>.value(in: 0...0x10_FFFF).array(of: 0...maximum).map { codes in
            codes.map { code in
                code % 8 < 5 ? pieces[Int(code / 8) % pieces.count] : String(Character(Unicode.Scalar(code) ?? "x"))
            }.joined()
        }
    }

    /// CR, LF and CRLF all become LF: the only form of a line break data can take.
    static func normalised(_ data: String) -> String {
        var out = String.UnicodeScalarView()
        var scalars = data.unicodeScalars[...]
        while let scalar = scalars.popFirst() {
            if scalar == "\r" {
                if scalars.first == "\n" { scalars.removeFirst() }
                out.append("\n")
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }

    static func lineBreaks(in data: String) -> Int {
        var count = 0
        var scalars = data.unicodeScalars[...]
        while let scalar = scalars.popFirst() {
            if scalar == "\n" { count += 1 }
            if scalar == "\r" {
                count += 1
                if scalars.first == "\n" { scalars.removeFirst() }
            }
        }
        return count
    }

    @Test func anyEventParsesBackToItselfAlone() async {
        let retries = Gen<Int>.value(in: 0...86_400_000).optional
        let ids = Gen<UInt64>.value(in: 0...UInt64.max)
        await propertyCheck(count: Self.count, input: Self.hostile(40), Self.hostile(12).optional, retries, ids) { data, name, retry, sequence in
            let event = Event(name: name, data: data, retry: retry)
            let id = EventID(epoch: sequence / 3, sequence: sequence)
            do {
                try event.validate(maxSize: .max)
            } catch {
                // Only names the encoder cannot make safe are refused.
                let nameBreaks = name.map { $0.unicodeScalars.contains { $0 == "\n" || $0 == "\r" } } ?? false
                #expect(nameBreaks || name == "", "refused \(event): \(error)")
                return
            }
            let frame = SSEEncoder.frame(event, id: id)
            let bytes = Array(SSEEncoder.preamble(retry: 1000, cursor: nil).readableBytesView) + Array(frame.readableBytesView)
            let parsed = EventStreamSpecParser.parse(bytes)
            #expect(parsed.events.count == 1, "frame \(String(buffer: frame).debugDescription)")
            guard let only = parsed.events.first else { return }
            #expect(only.data.utf8.elementsEqual(Self.normalised(data).utf8), "\(only)")
            #expect(only.type.utf8.elementsEqual((name ?? "message").utf8))
            #expect(only.lastEventID == id.description)
            // Exactly the fields written: retry (preamble), id, event?, retry?, one data per line.
            let names = parsed.fields.map(\.name)
            let expected = ["retry", "id"] + (name == nil ? [] : ["event"]) + (retry == nil ? [] : ["retry"])
                + Array(repeating: "data", count: Self.lineBreaks(in: data) + 1)
            #expect(names == expected)
            if let retry { #expect(parsed.reconnectionTime == retry) }
        }
    }

    /// Two frames back to back stay two events: nothing in the first can swallow or split
    /// the second (what a stream and a replay really send).
    @Test func consecutiveFramesStaySeparate() async {
        await propertyCheck(count: Self.count, input: Self.hostile(30), Self.hostile(30)) { first, second in
            var bytes = Array(SSEEncoder.frame(Event(data: first), id: EventID(epoch: 1, sequence: 1)).readableBytesView)
            bytes += Array(SSEEncoder.keepAlive.readableBytesView)
            bytes += Array(SSEEncoder.frame(Event(name: "second", data: second), id: EventID(epoch: 1, sequence: 2)).readableBytesView)
            let parsed = EventStreamSpecParser.parse(bytes)
            #expect(parsed.events == [
                .init(type: "message", data: Self.normalised(first), lastEventID: "1-1"),
                .init(type: "second", data: Self.normalised(second), lastEventID: "1-2"),
            ])
        }
    }

    /// Huge lines (up to 256 KiB) with hostile tails: still one event, nothing lost.
    @Test func hugeLinesStayOneEvent() async {
        await propertyCheck(count: 50, input: Gen<Int>.value(in: 0...(256 << 10)), Self.hostile(20)) { length, tail in
            let data = String(repeating: "x", count: length) + tail
            let parsed = EventStreamSpecParser.parse(Array(SSEEncoder.frame(Event(data: data), id: EventID(epoch: 2, sequence: 3)).readableBytesView))
            #expect(parsed.events.count == 1)
            #expect(parsed.events.first?.data.utf8.elementsEqual(Self.normalised(data).utf8) == true)
        }
    }

    /// The frame body the cluster's publish script prepends an id to is the same bytes.
    @Test func bodyWithIDEqualsFrame() async {
        await propertyCheck(count: Self.count / 4, input: Self.hostile(30), Gen<UInt64>.value(in: 0...UInt64.max)) { data, sequence in
            let event = Event(name: "n", data: data)
            let id = EventID(epoch: 9, sequence: sequence)
            #expect(SSEEncoder.frame(id: id, body: SSEEncoder.body(event)) == SSEEncoder.frame(event, id: id))
        }
    }
}

/// Forwarded batches come from the broker: any bytes must decode or fail cleanly, never
/// crash, and what the encoder wrote must come back exactly.
@Suite struct ForwardedBatchCodecPropertyTests {
    @Test func garbageNeverCrashesTheDecoder() async {
        let bytes = Gen<UInt8>.value(in: 0...255).array(of: 0...300)
        let prefixes: [[UInt8]] = [[], Array("c:".utf8), Array("t:".utf8), Array("c:abc\nid: 1-1\n".utf8), Array("c:abc\nid: 1-1\ndata: x\n\n".utf8)]
        await propertyCheck(count: SSEEncoderPropertyTests.count * 2, input: bytes, Gen<Int>.value(in: 0...4)) { garbage, prefix in
            var buffer = ByteBuffer(bytes: prefixes[prefix])
            buffer.writeBytes(garbage)
            if let events = try? ForwardedBatchCodec.decode(buffer) {
                // Whatever decodes is well formed: each frame starts with its id and ends
                // with the one blank line that dispatches it.
                for event in events {
                    let frame = String(decoding: event.frame.readableBytesView, as: UTF8.self)
                    #expect(frame.hasPrefix("id: \(event.id)\n"))
                    #expect(frame.hasSuffix("\n\n"))
                }
            }
        }
    }

    @Test func truncatedBatchesAreRefused() async {
        await propertyCheck(count: SSEEncoderPropertyTests.count, input: SSEEncoderPropertyTests.hostile(20), Gen<Int>.value(in: 1...10_000)) { data, cut in
            let events = [
                ForwardedEvent(target: .client(ClientID("a")!), id: EventID(epoch: 1, sequence: 1), frame: SSEEncoder.frame(Event(data: data), id: EventID(epoch: 1, sequence: 1))),
                ForwardedEvent(target: .topic(TopicName("t")!), id: EventID(epoch: 1, sequence: 2), frame: SSEEncoder.frame(Event(data: "z"), id: EventID(epoch: 1, sequence: 2))),
            ]
            let encoded = ForwardedBatchCodec.encode(events)
            #expect((try? ForwardedBatchCodec.decode(encoded)) == events)
            let length = encoded.readableBytes - 1 - (cut % encoded.readableBytes)
            let truncated = encoded.getSlice(at: encoded.readerIndex, length: length)!
            // A prefix either decodes to a prefix of the events (cut at a record boundary)
            // or is refused; it never yields an event that was not sent.
            if let decoded = try? ForwardedBatchCodec.decode(truncated) {
                #expect(decoded.count < events.count)
                #expect(Array(events.prefix(decoded.count)) == decoded)
            }
        }
    }
}
