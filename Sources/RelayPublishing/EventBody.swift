import Foundation
import RelayCore

/// One event as a publisher sends it in JSON: `{"event"?, "data", "retry"?}`, plus
/// `"client"` or `"topic"` on bulk NDJSON lines.
///
/// `data` is usually a string; any other JSON value is accepted and sent as its compact JSON
/// text, so `{"data": {"order": 5}}` works as a first call would expect.
struct EventBody: Decodable {
    var client: String?
    var topic: String?
    var event: String?
    var data: String
    var retry: Int?

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// One pass over the keys the document has, instead of asking the container about each
    /// field we know: every `contains` hashes the key again, and this runs once per event.
    /// Key order is the decoder's (a hash order), so errors are ranked to name the same
    /// problem every time: an unknown field first, then fields in the order of the docs.
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        var firstError: (rank: Int, error: APIError)?
        func note(_ rank: Int, _ error: APIError) {
            if rank < firstError?.rank ?? .max { firstError = (rank, error) }
        }
        func string(_ key: Key, rank: Int) -> String? {
            guard (try? container.decodeNil(forKey: key)) != true else { return nil }
            guard let value = try? container.decode(String.self, forKey: key) else {
                note(rank, APIError(status: 400, code: "invalid_field", message: "\(JSONText.quoted(key.stringValue)) must be a string"))
                return nil
            }
            return value
        }
        var data: String?
        for key in container.allKeys {
            switch key.stringValue {
            case "client":
                client = string(key, rank: 1)
            case "topic":
                topic = string(key, rank: 2)
            case "event":
                event = string(key, rank: 3)
            case "retry":
                guard (try? container.decodeNil(forKey: key)) != true else { continue }
                if let retry = try? container.decode(Int.self, forKey: key) {
                    self.retry = retry
                } else {
                    note(4, APIError(status: 400, code: "invalid_retry", message: "\"retry\" must be an integer number of milliseconds"))
                }
            case "data":
                do {
                    data = try Self.data(container, key)
                } catch let error as APIError {
                    note(5, error)
                }
            default:
                note(0, APIError(status: 400, code: "unknown_field", message: "unknown field \(JSONText.quoted(key.stringValue)); fields are event, data, retry (and client or topic in bulk lines)"))
            }
        }
        if let firstError { throw firstError.error }
        guard let data else {
            throw APIError(status: 400, code: "missing_data", message: "\"data\" is required")
        }
        self.data = data
    }

    /// `data` as text: a string as it is, any other JSON value as its compact JSON text.
    private static func data(_ container: KeyedDecodingContainer<Key>, _ key: Key) throws -> String {
        if let text = try? container.decode(String.self, forKey: key) {
            return text
        }
        let value = try container.decode(JSONValue.self, forKey: key)
        if case .null = value {
            throw APIError(status: 400, code: "missing_data", message: "\"data\" must not be null")
        }
        return String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
    }

    /// Decodes one JSON document, turning decoder failures into API errors that say what
    /// was wrong. `what` names the document in them ("request body", "line").
    ///
    /// UTF-8 is checked only once decoding failed: the decoder rejects invalid UTF-8 anyway,
    /// so a separate check up front would only cost a copy of every valid event.
    static func decode(_ bytes: some Collection<UInt8>, with decoder: JSONDecoder, what: String) throws(APIError) -> EventBody {
        do {
            // The bytes are lent to the parsers, not copied: they return before the buffer can
            // go away, and the strings they make are copies.
            func parse(_ data: Data) throws -> EventBody {
                try plain(data) ?? decoder.decode(EventBody.self, from: data)
            }
            let decoded = try bytes.withContiguousStorageIfAvailable { buffer in
                guard let base = buffer.baseAddress, buffer.count > 0 else { return try parse(Data()) }
                return try parse(Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: base), count: buffer.count, deallocator: .none))
            }
            return try decoded ?? parse(Data(bytes))
        } catch let error as APIError {
            throw error
        } catch {
            if String(validating: bytes, as: UTF8.self) == nil {
                throw APIError(status: 400, code: "invalid_utf8", message: "\(what) is not valid UTF-8")
            }
            throw APIError(status: 400, code: "invalid_json", message: "body is not a JSON object: \(Self.describe(error))")
        }
    }

    /// The common event, string values only, read by `JSONSerialization`: it parses the same
    /// JSON as `JSONDecoder` at under half the cost per event, because it skips the `Codable`
    /// machinery (a keyed container and a dictionary of keys per object). Returns nil for
    /// anything else (invalid JSON, an unknown field, a non-string value, `retry`, non-string
    /// `data`): those go to the `Decodable` path, which is the one place that decides what is
    /// accepted and words the errors. `EventBodyTests` checks that both paths agree.
    /// (Except on a field given twice: this keeps the last, `JSONDecoder` the first. JSON
    /// leaves repeated names open, and so do the docs.)
    static func plain(_ data: Data) -> EventBody? {
        // JSONSerialization drops a byte order mark that opens a string or a key (it makes
        // strings the way `String(bytes:encoding:)` does); data must arrive as it was sent.
        guard !data.withUnsafeBytes(Self.containsByteOrderMark),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return nil }
        var body = EventBody(data: "")
        var hasData = false
        for (key, value) in object {
            let text: String?
            switch value {
            case let string as String: text = string
            case is NSNull: text = nil
            default: return nil
            }
            switch key {
            case "client": body.client = text
            case "topic": body.topic = text
            case "event": body.event = text
            case "data":
                guard let text else { return nil }
                body.data = text
                hasData = true
            default: return nil
            }
        }
        return hasData ? body : nil
    }

    /// Whether the bytes hold U+FEFF in UTF-8 (EF BB BF) anywhere.
    /// A plain loop: about 45 ns for a 110-byte line, where `firstRange(of:)` took 6.8 µs.
    private static func containsByteOrderMark(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= 3 else { return false }
        var index = 0
        while index < bytes.count - 2 {
            if bytes[index] == 0xEF, bytes[index + 1] == 0xBB, bytes[index + 2] == 0xBF { return true }
            index += 1
        }
        return false
    }

    private init(data: String) {
        self.data = data
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context):
            return context.underlyingError.map { "\($0)" } ?? context.debugDescription
        case DecodingError.typeMismatch(_, let context):
            return context.debugDescription
        default:
            return "\(error)"
        }
    }
}

/// Any JSON value, so non-string `data` can be re-encoded as compact JSON text.
enum JSONValue: Codable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case integer(Int64)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}
