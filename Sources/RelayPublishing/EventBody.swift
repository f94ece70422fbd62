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

    private static let known: Set<String> = ["client", "topic", "event", "data", "retry"]

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        if let unknown = container.allKeys.first(where: { !Self.known.contains($0.stringValue) }) {
            throw APIError(status: 400, code: "unknown_field", message: "unknown field \(JSONText.quoted(unknown.stringValue)); fields are event, data, retry (and client or topic in bulk lines)")
        }
        func string(_ name: String) throws -> String? {
            let key = Key(stringValue: name)
            guard container.contains(key), try !container.decodeNil(forKey: key) else { return nil }
            guard let value = try? container.decode(String.self, forKey: key) else {
                throw APIError(status: 400, code: "invalid_field", message: "\(JSONText.quoted(name)) must be a string")
            }
            return value
        }
        client = try string("client")
        topic = try string("topic")
        event = try string("event")
        let retryKey = Key(stringValue: "retry")
        if container.contains(retryKey), try !container.decodeNil(forKey: retryKey) {
            guard let retry = try? container.decode(Int.self, forKey: retryKey) else {
                throw APIError(status: 400, code: "invalid_retry", message: "\"retry\" must be an integer number of milliseconds")
            }
            self.retry = retry
        }
        let dataKey = Key(stringValue: "data")
        guard container.contains(dataKey) else {
            throw APIError(status: 400, code: "missing_data", message: "\"data\" is required")
        }
        if let text = try? container.decode(String.self, forKey: dataKey) {
            data = text
        } else {
            let value = try container.decode(JSONValue.self, forKey: dataKey)
            if case .null = value {
                throw APIError(status: 400, code: "missing_data", message: "\"data\" must not be null")
            }
            data = String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
        }
    }

    /// Decodes one JSON document, turning decoder failures into API errors that say what
    /// was wrong.
    static func decode(_ bytes: some Collection<UInt8>, with decoder: JSONDecoder) throws(APIError) -> EventBody {
        do {
            return try decoder.decode(EventBody.self, from: Data(bytes))
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError(status: 400, code: "invalid_json", message: "body is not a JSON object: \(Self.describe(error))")
        }
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
