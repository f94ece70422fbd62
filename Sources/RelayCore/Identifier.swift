/// The character rules shared by client ids and topic names: 1-128 characters of
/// `A-Z a-z 0-9 . _ : @ -`.
///
/// The set is deliberately narrow: ids travel in URL paths, Redis keys, AMQP routing keys
/// and journald fields, and none of those needs escaping for these characters.
///
/// Inlinable, with the initializers below: ids are checked once per published event, from
/// other modules, and an unspecialized generic over `StringProtocol` costs several times
/// the check itself.
@usableFromInline
enum IdentifierRules {
    @usableFromInline static let maxLength = 128
    static let description = "1-128 characters of A-Z a-z 0-9 . _ : @ -"

    @inlinable
    static func isValid(_ value: some StringProtocol) -> Bool {
        var count = 0
        for byte in value.utf8 {
            count += 1
            guard count <= maxLength, isAllowed(byte) else { return false }
        }
        return count > 0
    }

    @inlinable @inline(__always)
    static func isAllowed(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: ":"), UInt8(ascii: "@"), UInt8(ascii: "-"):
            true
        default:
            false
        }
    }
}

/// The id an application gives a browser (a user, a session, a device). Several connections
/// may share one id; every event for the id goes to all of them.
public struct ClientID: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String

    /// Fails when `rawValue` breaks the rules in ``ClientID/rules``.
    @inlinable
    public init?(_ rawValue: some StringProtocol) {
        guard IdentifierRules.isValid(rawValue) else { return nil }
        self.rawValue = String(rawValue)
    }

    public static var rules: String { IdentifierRules.description }
    public var description: String { rawValue }
}

/// A named channel that any number of connections can join with `?topic=`.
public struct TopicName: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String

    /// Fails when `rawValue` breaks the rules in ``TopicName/rules``.
    @inlinable
    public init?(_ rawValue: some StringProtocol) {
        guard IdentifierRules.isValid(rawValue) else { return nil }
        self.rawValue = String(rawValue)
    }

    public static var rules: String { IdentifierRules.description }
    public var description: String { rawValue }
}

/// Who an event is for.
public enum Target: Hashable, Sendable {
    case client(ClientID)
    case topic(TopicName)
}
