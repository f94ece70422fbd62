/// Why a subscribe request was refused before its stream opened. The raw values are stable:
/// they appear in logs and metrics (`sse_relay_refusals_total{reason=...}`).
public enum RefusalReason: String, Sendable, CaseIterable {
    /// No credentials, or credentials that do not verify (401).
    case unauthenticated
    /// Valid credentials for another client id or topic (403).
    case forbidden
    /// Delegated auth could not be asked (the application is down or slow): fail closed (503).
    case authUnavailable = "auth_unavailable"
    /// The node is draining (503).
    case draining
    /// The node holds as many streams as it may (503).
    case nodeFull = "node_full"
    /// The client id holds as many streams as it may (429).
    case clientFull = "client_full"
    /// Too many new connections from one address (429).
    case rateLimited = "rate_limited"
    /// More topics on one stream than allowed (400).
    case tooManyTopics = "too_many_topics"
    /// The request head is larger than allowed (431).
    case headersTooLarge = "headers_too_large"
}
