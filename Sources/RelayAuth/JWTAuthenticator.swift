import Foundation
import JWTKit
import RelayCore
import Synchronization

/// `auth.mode: jwt`: standard JWTs, verified by jwt-kit with the configured keys, then
/// checked against the request (``SubscriberClaims/check(client:topics:policy:now:)``).
///
/// Keys and policy can be replaced while streams run (SIGHUP); requests in flight finish
/// with the keys they started with.
public final class JWTAuthenticator: SubscriberAuthenticator {
    public struct Configuration: Sendable {
        public var keys: JWTKeySet
        public var policy: SubscriberClaims.Policy

        public init(keys: JWTKeySet, policy: SubscriberClaims.Policy) {
            self.keys = keys
            self.policy = policy
        }
    }

    private struct Current: Sendable {
        var collection: JWTKeyCollection
        var policy: SubscriberClaims.Policy
    }

    private let current: Mutex<Current>

    public init(configuration: Configuration) async {
        current = Mutex(Current(collection: await configuration.keys.makeCollection(), policy: configuration.policy))
    }

    /// Swaps in new keys and policy (the keys were already parsed, so this cannot fail).
    public func replace(_ configuration: Configuration) async {
        let collection = await configuration.keys.makeCollection()
        current.withLock { $0 = Current(collection: collection, policy: configuration.policy) }
    }

    public func authenticate(_ request: SubscribeCredentials) async -> Result<Grant, Refusal> {
        guard let token = request.token else {
            return .failure(.unauthenticated("a token is required (Authorization: Bearer, ?token= or the auth cookie)"))
        }
        let (collection, policy) = current.withLock { ($0.collection, $0.policy) }
        let claims: SubscriberClaims
        do {
            claims = try await collection.verify(token, as: SubscriberClaims.self)
        } catch {
            return .failure(.unauthenticated("the token is not valid (format, key id or signature)", code: "invalid_token"))
        }
        return claims.check(client: request.client, topics: request.topics, policy: policy, now: Date())
    }
}
