import NIOCore
import NIOHTTP1

/// Builds publish request heads and bodies as bytes, without Foundation or JSON encoding.
///
/// The event data is `t=<CLOCK_MONOTONIC ns> xxx…`, padded to exactly `payload` bytes whatever the
/// number of digits, so a targeted body always has the same length. That lets the request heads
/// (with their Content-Length) be built once per client up front and merely copied per request,
/// which is a reference-count bump instead of a uri String and a header array per event.
final class RequestFactory: Sendable {
    /// Smallest payload that holds "t=" and any UInt64 timestamp.
    static let minimumPayload = 2 + 20

    let payload: Int
    let clientPrefix: String
    let clientCount: Int
    let singleBodyLength: Int
    let targetedHeads: [HTTPRequestHead]
    let topicHead: HTTPRequestHead
    private let hostHeader: String
    private let clientPrefixBytes: [UInt8]
    /// `"}` or `","event":"NAME"}`: closes the data string and the object.
    private let suffix: [UInt8]

    private static let singlePrefix = Array(#"{"data":""#.utf8)
    private static let bulkPrefix = Array(#"{"client":""#.utf8)
    private static let bulkMiddle = Array(#"","data":""#.utf8)

    init(payload: Int, clientPrefix: String, clientCount: Int, eventName: String?, topic: String, hostHeader: String) {
        self.payload = max(payload, Self.minimumPayload)
        self.clientPrefix = clientPrefix
        self.clientCount = clientCount
        self.hostHeader = hostHeader
        self.clientPrefixBytes = Array(clientPrefix.utf8)
        if let eventName {
            suffix = Array(#"","event":"\#(eventName)"}"#.utf8)
        } else {
            suffix = Array(#""}"#.utf8)
        }
        singleBodyLength = Self.singlePrefix.count + self.payload + suffix.count
        let length = singleBodyLength
        targetedHeads = (0..<clientCount).map { index in
            Self.head(uri: "/v1/clients/\(clientPrefix)\(index)/events", type: "application/json",
                      length: length, host: hostHeader)
        }
        topicHead = Self.head(uri: "/v1/topics/\(topic)/events", type: "application/json",
                              length: length, host: hostHeader)
    }

    private static func head(uri: String, type: String, length: Int, host: String) -> HTTPRequestHead {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: host)
        headers.add(name: "Content-Type", value: type)
        headers.add(name: "Content-Length", value: String(length))
        return HTTPRequestHead(version: .http1_1, method: .POST, uri: uri, headers: headers)
    }

    func bulkHead(contentLength: Int) -> HTTPRequestHead {
        Self.head(uri: "/v1/events", type: "application/x-ndjson", length: contentLength, host: hostHeader)
    }

    /// Exactly `payload` bytes: `t=<timestamp>` then a space and padding.
    @inline(__always)
    func writeData(timestamp: UInt64, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt16(0x743D))  // "t="
        let digits = buffer.writeDecimal(timestamp)
        let rest = payload - 2 - digits
        if rest > 0 {
            buffer.writeInteger(UInt8(ascii: " "))
            if rest > 1 {
                buffer.writeRepeatingByte(UInt8(ascii: "x"), count: rest - 1)
            }
        }
    }

    /// `{"data":"…"}`, `singleBodyLength` bytes; used for targeted and topic events.
    @inline(__always)
    func writeSingleBody(timestamp: UInt64, into buffer: inout ByteBuffer) {
        buffer.writeBytes(Self.singlePrefix)
        writeData(timestamp: timestamp, into: &buffer)
        buffer.writeBytes(suffix)
    }

    /// `{"client":"bench-7","data":"…"}\n`
    @inline(__always)
    func writeBulkLine(client: Int, timestamp: UInt64, into buffer: inout ByteBuffer) {
        buffer.writeBytes(Self.bulkPrefix)
        buffer.writeBytes(clientPrefixBytes)
        buffer.writeDecimal(UInt64(client))
        buffer.writeBytes(Self.bulkMiddle)
        writeData(timestamp: timestamp, into: &buffer)
        buffer.writeBytes(suffix)
        buffer.writeInteger(UInt8(ascii: "\n"))
    }

    /// An upper bound for one bulk line, to size buffers once.
    var bulkLineCapacity: Int {
        Self.bulkPrefix.count + clientPrefixBytes.count + 20 + Self.bulkMiddle.count + payload + suffix.count + 1
    }
}
