import NIOCore

/// The one error shape every HTTP answer of the relay uses:
/// `{"error": {"code": "...", "message": "..."}}`.
///
/// `code` is stable for programs to match on; `message` is for people and may change.
public struct APIError: Error, Sendable, Equatable {
    public var status: Int
    public var code: String
    public var message: String

    public init(status: Int, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    /// The JSON body, e.g. for a response or an NDJSON report line.
    public var json: String {
        #"{"error":{"code":"# + JSONText.quoted(code) + #","message":"# + JSONText.quoted(message) + "}}"
    }

    /// The error object alone, for embedding in a larger JSON document.
    public var errorObject: String {
        #"{"code":"# + JSONText.quoted(code) + #","message":"# + JSONText.quoted(message) + "}"
    }
}

extension APIError {
    public static func invalidClientID(_ value: some StringProtocol) -> APIError {
        APIError(status: 400, code: "invalid_client_id", message: "client id must be \(ClientID.rules) (got \(JSONText.excerpt(value)))")
    }

    public static func invalidTopic(_ value: some StringProtocol) -> APIError {
        APIError(status: 400, code: "invalid_topic", message: "topic must be \(TopicName.rules) (got \(JSONText.excerpt(value)))")
    }

    public static func notFound(_ path: some StringProtocol) -> APIError {
        APIError(status: 404, code: "not_found", message: "no such resource: \(JSONText.excerpt(path))")
    }

    public static func methodNotAllowed(_ method: String, allowed: String) -> APIError {
        APIError(status: 405, code: "method_not_allowed", message: "\(method) is not allowed here; allowed: \(allowed)")
    }

    /// A new stream while the node drains (answered with `Retry-After`).
    public static func draining(retryAfterSeconds: Int) -> APIError {
        APIError(
            status: 503, code: "draining",
            message: "this node is draining and accepts no new streams; retry in \(retryAfterSeconds) s (through the load balancer, to another node)"
        )
    }

    public init(_ error: EventValidationError) {
        switch error {
        case .nameHasLineBreak:
            self.init(status: 400, code: "invalid_event_name", message: "event name must not contain CR or LF")
        case .nameEmpty:
            self.init(status: 400, code: "invalid_event_name", message: "event name must not be empty (omit it for the default \"message\" event)")
        case .retryOutOfRange(let value):
            self.init(status: 400, code: "invalid_retry", message: "retry must be 0...86400000 milliseconds (got \(value))")
        case .tooLarge(let size, let limit):
            self.init(status: 413, code: "event_too_large", message: "event is \(size) bytes; the limit is \(limit) bytes")
        }
    }
}

/// Just enough JSON writing for error bodies, without pulling Foundation into the core.
public enum JSONText {
    public static func quoted(_ text: some StringProtocol) -> String {
        var out = "\""
        out.reserveCapacity(text.utf8.count + 2)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// A short, quoted excerpt of user input for error messages.
    public static func excerpt(_ text: some StringProtocol) -> String {
        let prefix = text.prefix(64)
        return "\"" + prefix + (text.count > 64 ? "…" : "") + "\""
    }
}

extension ByteBuffer {
    /// Writes `text` as a JSON string, quotes included, for answers built straight into
    /// the buffer that goes out. Ids and node names never need escaping, so they are copied
    /// as they are; anything else goes through ``JSONText/quoted(_:)``.
    public mutating func writeJSONString(_ text: String) {
        let plain = text.utf8.allSatisfy { $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
        if plain {
            writeInteger(UInt8(ascii: "\""))
            writeString(text)
            writeInteger(UInt8(ascii: "\""))
        } else {
            writeString(JSONText.quoted(text))
        }
    }
}
