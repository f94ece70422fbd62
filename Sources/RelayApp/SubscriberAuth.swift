import RelayAuth

/// How subscribers prove who they are (`auth.mode`).
public enum SubscriberAuth: Sendable {
    /// Anyone may open any stream. Only on a loopback listener, or with
    /// `auth.allow-anonymous: true` (the relay then warns at start-up).
    case none(allowAnonymous: Bool)
    /// Signed tokens (JWT), verified with the configured keys.
    case jwt(JWTAuthenticator.Configuration)
    /// The local application decides for each stream.
    case delegate(DelegateAuthenticator.Configuration)

    public var mode: String {
        switch self {
        case .none: "none"
        case .jwt: "jwt"
        case .delegate: "delegate"
        }
    }
}
