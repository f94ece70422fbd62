import Foundation
import JWTKit
import RelayCore

/// The claims of a subscriber token that the relay reads. Decoded loosely (any claim name
/// can hold the topics), checked by ``check(client:topics:policy:now:)`` after jwt-kit
/// has verified the signature.
public struct SubscriberClaims: JWTPayload, Equatable {
    public var subject: String?
    public var expiresAt: Date?
    public var notBefore: Date?
    public var issuer: String?
    /// `aud` is a string or an array of strings.
    public var audience: [String]
    /// Every claim holding an array of strings (or one string), by name: the topics claim is
    /// picked by configuration.
    public var stringLists: [String: [String]]

    public init(subject: String?, expiresAt: Date? = nil, notBefore: Date? = nil, issuer: String? = nil, audience: [String] = [], stringLists: [String: [String]] = [:]) {
        self.subject = subject
        self.expiresAt = expiresAt
        self.notBefore = notBefore
        self.issuer = issuer
        self.audience = audience
        self.stringLists = stringLists
    }

    /// The checks that need configuration happen in ``check(client:topics:policy:now:)``.
    public func verify(using algorithm: some JWTAlgorithm) async throws {}

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        func string(_ name: String) -> String? { try? container.decodeIfPresent(String.self, forKey: Key(stringValue: name)) }
        func date(_ name: String) throws -> Date? {
            let key = Key(stringValue: name)
            guard container.contains(key) else { return nil }
            // NumericDate: seconds since 1970, possibly fractional.
            guard let seconds = try? container.decode(Double.self, forKey: key) else {
                throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "\(name) must be a number of seconds")
            }
            return Date(timeIntervalSince1970: seconds)
        }
        subject = string("sub")
        issuer = string("iss")
        expiresAt = try date("exp")
        notBefore = try date("nbf")
        var lists: [String: [String]] = [:]
        for key in container.allKeys {
            if let list = try? container.decode([String].self, forKey: key) {
                lists[key.stringValue] = list
            } else if let one = try? container.decode(String.self, forKey: key) {
                lists[key.stringValue] = [one]
            }
        }
        audience = lists["aud"] ?? []
        stringLists = lists
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        for (name, list) in stringLists where !["sub", "iss", "aud"].contains(name) {
            try container.encode(list, forKey: Key(stringValue: name))
        }
        try container.encodeIfPresent(subject, forKey: Key(stringValue: "sub"))
        try container.encodeIfPresent(issuer, forKey: Key(stringValue: "iss"))
        if !audience.isEmpty { try container.encode(audience, forKey: Key(stringValue: "aud")) }
        try container.encodeIfPresent(expiresAt.map { Int($0.timeIntervalSince1970) }, forKey: Key(stringValue: "exp"))
        try container.encodeIfPresent(notBefore.map { Int($0.timeIntervalSince1970) }, forKey: Key(stringValue: "nbf"))
    }

    /// What a token must say to be admitted.
    public struct Policy: Sendable, Equatable {
        /// The claim listing the topics the token may join (an array of topic names; a
        /// trailing `*` matches any topic with that prefix).
        public var topicsClaim: String
        /// When set, `aud` must contain it.
        public var audience: String?
        /// When set, `iss` must equal it.
        public var issuer: String?
        /// Clock skew tolerated on `exp` and `nbf`.
        public var leeway: Duration
        /// Tokens without `exp` are refused: a stream that can never expire defeats revocation.
        public var requireExpiry: Bool

        public init(topicsClaim: String = "topics", audience: String? = nil, issuer: String? = nil, leeway: Duration = .seconds(30), requireExpiry: Bool = true) {
            self.topicsClaim = topicsClaim
            self.audience = audience
            self.issuer = issuer
            self.leeway = leeway
            self.requireExpiry = requireExpiry
        }
    }

    /// Decides whether these (verified) claims admit `client` to `topics`.
    public func check(client: ClientID, topics: [TopicName], policy: Policy, now: Date) -> Result<Grant, Refusal> {
        let leeway = TimeInterval(policy.leeway.nanoseconds) / 1e9
        guard let expiresAt else {
            if policy.requireExpiry { return .failure(.unauthenticated("the token has no exp claim", code: "invalid_token")) }
            return admitted(client: client, topics: topics, policy: policy, expiresAt: nil, now: now)
        }
        if expiresAt.addingTimeInterval(leeway) <= now {
            return .failure(.unauthenticated("the token has expired", code: "invalid_token"))
        }
        return admitted(client: client, topics: topics, policy: policy, expiresAt: expiresAt.addingTimeInterval(leeway), now: now)
    }

    private func admitted(client: ClientID, topics: [TopicName], policy: Policy, expiresAt: Date?, now: Date) -> Result<Grant, Refusal> {
        let leeway = TimeInterval(policy.leeway.nanoseconds) / 1e9
        if let notBefore, notBefore.addingTimeInterval(-leeway) > now {
            return .failure(.unauthenticated("the token is not valid yet (nbf)", code: "invalid_token"))
        }
        if let issuer = policy.issuer, self.issuer != issuer {
            return .failure(.unauthenticated("the token's issuer is not accepted here", code: "invalid_token"))
        }
        if let audience = policy.audience, !self.audience.contains(audience) {
            return .failure(.unauthenticated("the token is not meant for this relay (aud)", code: "invalid_token"))
        }
        guard let subject else {
            return .failure(.unauthenticated("the token has no sub claim", code: "invalid_token"))
        }
        guard subject == client.rawValue else {
            return .failure(.forbidden("the token does not grant this client id"))
        }
        let allowed = stringLists[policy.topicsClaim] ?? []
        for topic in topics where !TopicPattern.matches(allowed, topic.rawValue) {
            return .failure(.forbidden("the token does not grant topic \(JSONText.excerpt(topic.rawValue))"))
        }
        return .success(Grant(client: client, topics: topics, expiresAt: expiresAt))
    }
}

/// Topic grants: exact names, or a prefix ending in `*` (`news.*`, or `*` for all).
public enum TopicPattern {
    public static func matches(_ patterns: [String], _ topic: String) -> Bool {
        patterns.contains { pattern in
            if pattern.hasSuffix("*") { return topic.hasPrefix(pattern.dropLast()) }
            return pattern == topic
        }
    }
}
