import NIOCore
import NIOHTTP1

/// Builds publish request heads and bodies as bytes, without Foundation or JSON encoding.
///
/// The event data is `t=<CLOCK_MONOTONIC ns> xxx…`, padded to exactly `payload` bytes whatever the
/// number of digits, so a targeted body always has the same length. That lets the request heads
/// (with their Content-Length) be built once per client up front and merely copied per request,
/// which is a reference-count bump instead of a uri String and a header array per event.
///
/// Each `Target` has its own publish API: the relay takes `{"data":…}` at `/v1/clients/ID/events`
/// and NDJSON at `/v1/events`; nchan takes the raw data at `/pub/ID`; Pushpin takes
/// `{"items":[{"channel":ID,"formats":{"http-stream":{"content":"data: …\n\n"}}}]}` at `/publish/`,
/// where the channel is in the body, so its body length depends on the client id.
final class RequestFactory: Sendable {
    /// Smallest payload that holds "t=" and any UInt64 timestamp.
    static let minimumPayload = 2 + 20

    let target: Target
    let payload: Int
    let clientPrefix: String
    let clientCount: Int
    let targetedHeads: [HTTPRequestHead]
    let topicHead: HTTPRequestHead
    private let hostHeader: String
    private let clientPrefixBytes: [UInt8]
    /// `"}` or `","event":"NAME"}`: closes the data string and the object.
    private let suffix: [UInt8]
    private let topicBytes: [UInt8]

    private static let pushpinItemPrefix = Array(#"{"channel":""#.utf8)
    private static let pushpinItemMiddle = Array(#"","formats":{"http-stream":{"content":"data: "#.utf8)
    private static let pushpinItemSuffix = Array(#"\n\n"}}}"#.utf8)
    private static let pushpinItemsOpen = Array(#"{"items":["#.utf8)
    private static let pushpinItemsClose = Array("]}".utf8)

    private static let singlePrefix = Array(#"{"data":""#.utf8)
    private static let bulkPrefix = Array(#"{"client":""#.utf8)
    private static let bulkMiddle = Array(#"","data":""#.utf8)

    init(
        target: Target, payload: Int, clientPrefix: String, clientCount: Int, eventName: String?,
        topic: String, hostHeader: String
    ) {
        self.target = target
        self.payload = max(payload, Self.minimumPayload)
        self.clientPrefix = clientPrefix
        self.clientCount = clientCount
        self.hostHeader = hostHeader
        self.clientPrefixBytes = Array(clientPrefix.utf8)
        self.topicBytes = Array(topic.utf8)
        if let eventName, target == .relay {
            suffix = Array(#"","event":"\#(eventName)"}"#.utf8)
        } else {
            suffix = Array(#""}"#.utf8)
        }
        let payload = self.payload
        let suffixCount = suffix.count
        let prefixCount = clientPrefixBytes.count
        func decimalDigits(_ value: Int) -> Int { String(value).utf8.count }
        func pushpinItemLength(channelBytes: Int) -> Int {
            Self.pushpinItemPrefix.count + channelBytes + Self.pushpinItemMiddle.count + payload
                + Self.pushpinItemSuffix.count
        }
        switch target {
        case .relay:
            let length = Self.singlePrefix.count + payload + suffixCount
            targetedHeads = (0..<clientCount).map { index in
                Self.head(uri: "/v1/clients/\(clientPrefix)\(index)/events", type: "application/json",
                          length: length, host: hostHeader)
            }
            topicHead = Self.head(uri: "/v1/topics/\(topic)/events", type: "application/json",
                                  length: length, host: hostHeader)
        case .nchan:
            targetedHeads = (0..<clientCount).map { index in
                Self.head(uri: "/pub/\(clientPrefix)\(index)", type: "text/plain", length: payload, host: hostHeader)
            }
            topicHead = Self.head(uri: "/pub/\(topic)", type: "text/plain", length: payload, host: hostHeader)
        case .pushpin:
            let wrapper = Self.pushpinItemsOpen.count + Self.pushpinItemsClose.count
            targetedHeads = (0..<clientCount).map { index in
                let length = wrapper + pushpinItemLength(channelBytes: prefixCount + decimalDigits(index))
                return Self.head(uri: "/publish/", type: "application/json", length: length, host: hostHeader)
            }
            topicHead = Self.head(
                uri: "/publish/", type: "application/json",
                length: wrapper + pushpinItemLength(channelBytes: topic.utf8.count), host: hostHeader
            )
        }
    }

    private static func head(uri: String, type: String, length: Int, host: String) -> HTTPRequestHead {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: host)
        headers.add(name: "Content-Type", value: type)
        headers.add(name: "Content-Length", value: String(length))
        return HTTPRequestHead(version: .http1_1, method: .POST, uri: uri, headers: headers)
    }

    func bulkHead(contentLength: Int) -> HTTPRequestHead {
        switch target {
        case .relay, .nchan:
            return Self.head(uri: "/v1/events", type: "application/x-ndjson", length: contentLength, host: hostHeader)
        case .pushpin:
            return Self.head(uri: "/publish/", type: "application/json", length: contentLength, host: hostHeader)
        }
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

    /// One event's body for a client (or the topic when `client` is nil), exactly as long as the
    /// Content-Length of its prebuilt head: relay `{"data":"…"}`, nchan the bare data, Pushpin an
    /// `items` array of one.
    @inline(__always)
    func writeSingleBody(client: Int?, timestamp: UInt64, into buffer: inout ByteBuffer) {
        switch target {
        case .relay:
            buffer.writeBytes(Self.singlePrefix)
            writeData(timestamp: timestamp, into: &buffer)
            buffer.writeBytes(suffix)
        case .nchan:
            writeData(timestamp: timestamp, into: &buffer)
        case .pushpin:
            buffer.writeBytes(Self.pushpinItemsOpen)
            writePushpinItem(client: client, timestamp: timestamp, into: &buffer)
            buffer.writeBytes(Self.pushpinItemsClose)
        }
    }

    private func writePushpinItem(client: Int?, timestamp: UInt64, into buffer: inout ByteBuffer) {
        buffer.writeBytes(Self.pushpinItemPrefix)
        if let client {
            buffer.writeBytes(clientPrefixBytes)
            buffer.writeDecimal(UInt64(client))
        } else {
            buffer.writeBytes(topicBytes)
        }
        buffer.writeBytes(Self.pushpinItemMiddle)
        writeData(timestamp: timestamp, into: &buffer)
        buffer.writeBytes(Self.pushpinItemSuffix)
    }

    /// A whole bulk body of `batch` targeted events to random clients: relay NDJSON
    /// `{"client":"bench-7","data":"…"}` lines, Pushpin one `items` array.
    func writeBulkBody(batch: Int, timestamp: UInt64, rng: inout SplitMix64, into buffer: inout ByteBuffer) {
        switch target {
        case .relay, .nchan:
            for _ in 0..<batch {
                writeBulkLine(client: rng.next(below: clientCount), timestamp: timestamp, into: &buffer)
            }
        case .pushpin:
            buffer.writeBytes(Self.pushpinItemsOpen)
            for index in 0..<batch {
                if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
                writePushpinItem(client: rng.next(below: clientCount), timestamp: timestamp, into: &buffer)
            }
            buffer.writeBytes(Self.pushpinItemsClose)
        }
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
        max(Self.bulkPrefix.count + Self.bulkMiddle.count + suffix.count + 1,
            Self.pushpinItemPrefix.count + Self.pushpinItemMiddle.count + Self.pushpinItemSuffix.count + 1)
            + clientPrefixBytes.count + 20 + payload
    }
}
