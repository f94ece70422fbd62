/// A reply from Redis, copied out of hiredis's reply object so it can cross threads.
public enum RedisValue: Sendable, Equatable {
    case bulk([UInt8])
    case status(String)
    case integer(Int64)
    case array([RedisValue])
    case null
    /// An error reply (`-ERR ...`, `-NOSCRIPT ...`): the command failed, the connection is fine.
    case error(String)

    public var string: String? {
        switch self {
        case .bulk(let bytes): String(decoding: bytes, as: UTF8.self)
        case .status(let text): text
        case .integer(let value): String(value)
        default: nil
        }
    }

    public var integer: Int64? {
        switch self {
        case .integer(let value): value
        case .bulk, .status: string.flatMap { Int64($0) }
        default: nil
        }
    }

    public var array: [RedisValue]? {
        if case .array(let values) = self { return values }
        return nil
    }

    public var errorMessage: String? {
        if case .error(let message) = self { return message }
        return nil
    }
}

/// One command: its arguments as bytes (Redis is binary-safe; frames may hold any byte).
public struct RedisCommand: Sendable, Equatable {
    public var arguments: [[UInt8]]

    public init(_ arguments: [[UInt8]]) {
        self.arguments = arguments
    }

    public init(_ arguments: String...) {
        self.arguments = arguments.map { Array($0.utf8) }
    }

    public init(strings: [String]) {
        self.arguments = strings.map { Array($0.utf8) }
    }
}

/// Why a Redis call did not get a reply.
public enum RedisError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No connection right now (the client keeps reconnecting in the background).
    case unavailable(String)
    /// The connection failed while the command was in flight: it may or may not have run.
    case connectionLost(String)
    case badURL(String)

    public var description: String {
        switch self {
        case .unavailable(let reason): "Redis unavailable: \(reason)"
        case .connectionLost(let reason): "Redis connection lost: \(reason)"
        case .badURL(let reason): "invalid Redis URL: \(reason)"
        }
    }
}
