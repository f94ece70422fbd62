import RelayCore

/// `auth.mode: none`: every request is admitted as what it asks for. Only for loopback
/// listeners or with `auth.allow-anonymous: true` (checked at start-up).
public struct AnonymousAuthenticator: SubscriberAuthenticator {
    public init() {}

    public func authenticate(_ request: SubscribeCredentials) async -> Result<Grant, Refusal> {
        .success(Grant(client: request.client, topics: request.topics))
    }
}
