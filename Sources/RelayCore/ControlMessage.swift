import NIOCore

/// What one node asks another for the cluster-wide admin commands (`clients show`, `kick`).
public struct ControlRequest: Sendable, Equatable {
    public enum Action: String, Sendable, CaseIterable {
        /// Describe the client's streams on that node.
        case connections
        /// Close them (reason `kicked`) and describe what was closed.
        case kick
    }

    /// Pairs the replies with the request; identifier characters only.
    public var id: String
    /// The asking node: replies go to its own queue.
    public var from: String
    public var action: Action
    public var client: ClientID
    /// Wall-clock milliseconds after which the asker no longer waits: a node that reads the
    /// request later (it was stopped, or its consumer lagged) ignores it instead of kicking
    /// a browser nobody is watching any more.
    public var expiresMilliseconds: Int64

    public init(id: String, from: String, action: Action, client: ClientID, expiresMilliseconds: Int64) {
        self.id = id
        self.from = from
        self.action = action
        self.client = client
        self.expiresMilliseconds = expiresMilliseconds
    }
}

/// A node's answer: the client's streams it holds (for a kick, the ones it closed).
public struct ControlReply: Sendable, Equatable {
    public var id: String
    public var from: String
    public var connections: [ConnectionInfo]

    public init(id: String, from: String, connections: [ConnectionInfo]) {
        self.id = id
        self.from = from
        self.connections = connections
    }
}

public enum ControlMessage: Sendable, Equatable {
    case request(ControlRequest)
    case reply(ControlReply)
}

/// Whatever arrives in a node's queue: forwarded events, or an admin request or reply.
public enum NodeMessage: Sendable, Equatable {
    case events([ForwardedEvent])
    case control(ControlMessage)

    /// Tells the two apart by the control header (event batches start with `c:` or `t:`,
    /// never with it) and decodes either strictly.
    public static func decode(_ buffer: ByteBuffer) throws -> NodeMessage {
        if ControlMessageCodec.isControl(buffer) {
            return .control(try ControlMessageCodec.decode(buffer))
        }
        return .events(try ForwardedBatchCodec.decode(buffer))
    }
}

/// Control messages on the wire: a header line, then one line per record, fields separated
/// by single spaces. Every field is an identifier, a number, an event id or a peer address,
/// none of which can hold a space or a line break, so nothing needs escaping; decoding
/// checks each field and rejects anything else (a message from the broker is not trusted).
///
///     sse-relay-control 1
///     request <id> <from> <connections|kick> <client> <expires ms>
///
///     sse-relay-control 1
///     reply <id> <from> <client> <count>
///     conn <since ms> <peer> <last event id or -> <topic,topic or ->
public enum ControlMessageCodec {
    public struct DecodingError: Error, Equatable, CustomStringConvertible {
        public var description: String
    }

    static let header = "sse-relay-control 1\n"

    public static func isControl(_ buffer: ByteBuffer) -> Bool {
        buffer.readableBytesView.starts(with: header.utf8)
    }

    public static func encode(_ message: ControlMessage) -> ByteBuffer {
        var text = header
        switch message {
        case .request(let request):
            text += "request \(request.id) \(request.from) \(request.action.rawValue) \(request.client.rawValue) \(request.expiresMilliseconds)\n"
        case .reply(let reply):
            let client = reply.connections.first?.client.rawValue ?? "-"
            text += "reply \(reply.id) \(reply.from) \(client) \(reply.connections.count)\n"
            for connection in reply.connections {
                let topics = connection.topics.isEmpty ? "-" : connection.topics.map(\.rawValue).joined(separator: ",")
                text += "conn \(connection.sinceMilliseconds) \(connection.peer) \(connection.lastEventID?.description ?? "-") \(topics)\n"
            }
        }
        return ByteBuffer(string: text)
    }

    public static func decode(_ buffer: ByteBuffer) throws(DecodingError) -> ControlMessage {
        guard isControl(buffer), let text = String(validating: buffer.readableBytesView, as: UTF8.self) else {
            throw DecodingError(description: "not a control message")
        }
        var lines = text.utf8.count > header.utf8.count ? text.dropFirst(header.count).split(separator: "\n", omittingEmptySubsequences: false) : []
        if lines.last == "" { lines.removeLast() }
        guard let first = lines.first else { throw DecodingError(description: "no record") }
        let fields = first.split(separator: " ", omittingEmptySubsequences: false)
        func token(_ raw: Substring, _ what: String) throws(DecodingError) -> String {
            guard ClientID(raw) != nil else { throw DecodingError(description: "bad \(what)") }
            return String(raw)
        }
        switch fields.first ?? "" {
        case "request":
            guard fields.count == 6, lines.count == 1 else { throw DecodingError(description: "bad request record") }
            guard let action = ControlRequest.Action(rawValue: String(fields[3])) else { throw DecodingError(description: "unknown action") }
            guard let client = ClientID(fields[4]) else { throw DecodingError(description: "bad client id") }
            guard let expires = Int64(fields[5]) else { throw DecodingError(description: "bad expiry") }
            return .request(
                ControlRequest(id: try token(fields[1], "request id"), from: try token(fields[2], "node id"), action: action, client: client, expiresMilliseconds: expires)
            )
        case "reply":
            guard fields.count == 5, let count = Int(fields[4]), count == lines.count - 1 else { throw DecodingError(description: "bad reply record") }
            let node = try token(fields[2], "node id")
            let client = count == 0 ? nil : ClientID(fields[3])
            if count > 0, client == nil { throw DecodingError(description: "bad client id") }
            var connections: [ConnectionInfo] = []
            for line in lines.dropFirst() {
                let parts = line.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 5, parts[0] == "conn", let since = Int64(parts[1]), !parts[2].isEmpty, parts[2].utf8.count <= 64 else {
                    throw DecodingError(description: "bad connection record")
                }
                var lastEventID: EventID?
                if parts[3] != "-" {
                    guard let id = EventID(parts[3]) else { throw DecodingError(description: "bad event id") }
                    lastEventID = id
                }
                var topics: [TopicName] = []
                if parts[4] != "-" {
                    for raw in parts[4].split(separator: ",", omittingEmptySubsequences: false) {
                        guard let topic = TopicName(raw) else { throw DecodingError(description: "bad topic") }
                        topics.append(topic)
                    }
                }
                connections.append(
                    ConnectionInfo(node: node, client: client!, topics: topics, sinceMilliseconds: since, peer: String(parts[2]), lastEventID: lastEventID)
                )
            }
            return .reply(ControlReply(id: try token(fields[1], "request id"), from: node, connections: connections))
        default:
            throw DecodingError(description: "unknown record")
        }
    }
}
