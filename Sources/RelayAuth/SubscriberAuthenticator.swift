import Foundation
import RelayCore

/// Verifies a subscribe request: answers who it is and which topics it may join, or why not.
///
/// Implementations may do I/O (delegation asks the local application); the SSE handler
/// awaits the answer off its event loop and opens the stream only on a ``Grant``.
public protocol SubscriberAuthenticator: Sendable {
    func authenticate(_ request: SubscribeCredentials) async -> Result<Grant, Refusal>
}

/// What a subscribe request brings to be admitted with. Built by the transport from the
/// request head; holds the secrets, so it is never logged.
public struct SubscribeCredentials: Sendable {
    public var client: ClientID
    public var topics: [TopicName]
    /// From `Authorization: Bearer`, `?token=` or the configured cookie, in that order.
    public var token: String?
    /// Headers forwarded to a delegate (cookies, and the configured ones), by lowercased name.
    public var headers: [(name: String, value: String)]
    /// The client's address (after trusted proxies), for the delegate and for logs.
    public var remoteAddress: String

    public init(client: ClientID, topics: [TopicName], token: String?, headers: [(name: String, value: String)], remoteAddress: String) {
        self.client = client
        self.topics = topics
        self.token = token
        self.headers = headers
        self.remoteAddress = remoteAddress
    }
}

/// An admitted subscriber.
public struct Grant: Sendable, Equatable {
    public var client: ClientID
    public var topics: [TopicName]
    /// When the credentials stop being valid: the stream is closed then (`token_expired`).
    public var expiresAt: Date?

    public init(client: ClientID, topics: [TopicName], expiresAt: Date? = nil) {
        self.client = client
        self.topics = topics
        self.expiresAt = expiresAt
    }
}

/// A subscribe request refused, with the answer the client gets and the reason counted.
///
/// Messages say what is wrong with *this* request only: nothing about other clients or
/// the keys in use.
public struct Refusal: Error, Sendable, Equatable {
    public var reason: RefusalReason
    public var error: APIError
    /// Extra response headers (`Retry-After`, `WWW-Authenticate`).
    public var headers: [Header]

    public struct Header: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    public init(reason: RefusalReason, error: APIError, headers: [Header] = []) {
        self.reason = reason
        self.error = error
        self.headers = headers
    }
}

extension Refusal {
    public static func unauthenticated(_ message: String, code: String = "unauthenticated") -> Refusal {
        Refusal(
            reason: .unauthenticated, error: APIError(status: 401, code: code, message: message),
            headers: [Header("WWW-Authenticate", code == "invalid_token" ? #"Bearer error="invalid_token""# : "Bearer")]
        )
    }

    public static func forbidden(_ message: String) -> Refusal {
        Refusal(reason: .forbidden, error: APIError(status: 403, code: "forbidden", message: message))
    }

    public static func authUnavailable(_ message: String) -> Refusal {
        Refusal(
            reason: .authUnavailable, error: APIError(status: 503, code: "auth_unavailable", message: message),
            headers: [Header("Retry-After", "5")]
        )
    }

    public static func draining(retryAfterSeconds: Int) -> Refusal {
        Refusal(
            reason: .draining,
            error: APIError(status: 503, code: "draining", message: "this node is shutting down; reconnect (another node will take the stream)"),
            headers: [Header("Retry-After", String(retryAfterSeconds))]
        )
    }

    public static func nodeFull(limit: Int) -> Refusal {
        Refusal(
            reason: .nodeFull,
            error: APIError(status: 503, code: "node_full", message: "this node holds its limit of \(limit) streams; retry later"),
            headers: [Header("Retry-After", "10")]
        )
    }

    public static func clientFull(limit: Int) -> Refusal {
        Refusal(
            reason: .clientFull,
            error: APIError(status: 429, code: "too_many_streams", message: "this client id already holds \(limit) streams on this node (the limit); close one first"),
            headers: [Header("Retry-After", "5")]
        )
    }

    public static func rateLimited(retryAfterSeconds: Int) -> Refusal {
        Refusal(
            reason: .rateLimited,
            error: APIError(status: 429, code: "rate_limited", message: "too many new connections from this address; retry after \(retryAfterSeconds) s"),
            headers: [Header("Retry-After", String(retryAfterSeconds))]
        )
    }

    public static func tooManyTopics(_ count: Int, limit: Int) -> Refusal {
        Refusal(
            reason: .tooManyTopics,
            error: APIError(status: 400, code: "too_many_topics", message: "a stream may join at most \(limit) topics (got \(count))")
        )
    }

    public static func headersTooLarge(limit: Int) -> Refusal {
        Refusal(
            reason: .headersTooLarge,
            error: APIError(status: 431, code: "headers_too_large", message: "the request head is larger than \(limit) bytes")
        )
    }
}
