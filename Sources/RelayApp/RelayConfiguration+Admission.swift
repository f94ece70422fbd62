import Foundation
import RelayAuth
import RelayCore
import RelaySSE

/// Subscriber admission: auth, CORS, connection limits, trusted proxies.
extension RelayConfiguration {
    static let admissionKeys: [(key: String, defaultValue: String, help: String)] = [
        ("auth.mode", "none", "Subscriber auth: none, jwt (signed tokens) or delegate (the local application decides)."),
        ("auth.allow-anonymous", "false", "With auth.mode none, allow a non-loopback listen address anyway."),
        ("auth.token-cookie", "", "Cookie that may carry the token, besides Authorization: Bearer and ?token= (empty: none)."),
        ("auth.jwt.keys", "", "Verification keys, [kid=]ALG:path[,...]: HS256/384/512 secret files, RS*/ES*/EdDSA PEM public keys."),
        ("auth.jwt.audience", "", "When set, a token's aud must contain it."),
        ("auth.jwt.issuer", "", "When set, a token's iss must equal it."),
        ("auth.jwt.topics-claim", "topics", "Claim listing the topics a token may join (a trailing * matches a prefix)."),
        ("auth.jwt.leeway", "30s", "Clock skew tolerated on exp and nbf."),
        ("auth.delegate.url", "", "Asked to admit each stream: http://127.0.0.1:PORT/path or unix:/path/to.sock:/path."),
        ("auth.delegate.headers", "", "Request headers forwarded to the delegate besides Cookie and Authorization (comma-separated)."),
        ("auth.delegate.timeout", "2s", "How long the delegate may take; past it the stream is refused with 503."),
        ("auth.delegate.cache-ttl", "5s", "How long a delegate answer is reused for the same credentials, id and topics (0: never)."),
        ("auth.delegate.cache-size", "10000", "Delegate answers kept at most."),
        ("cors.allow-credentials", "false", "Send Access-Control-Allow-Credentials: true (the origin is then echoed, never *)."),
        ("limits.connections", "50000", "Streams this node holds at most (503 past it; 0: no limit)."),
        ("limits.connections-per-client", "16", "Streams per client id on this node (429 past it; 0: no limit)."),
        ("limits.connect-rate", "20", "New connections per second per remote address (429 past it; 0: no limit)."),
        ("limits.connect-burst", "40", "New connections one address may open at once before connect-rate applies."),
        ("limits.topics-per-stream", "32", "Topics one stream may join (400 past it; 0: no limit)."),
        ("limits.max-header-size", "16KiB", "Request line and headers of a subscribe request (431 past it)."),
        ("proxy.trusted", "", "Proxies (addresses or CIDRs) whose X-Forwarded-For names the client for limits and logs."),
    ]

    /// Reads the admission keys into `sse` and returns the auth mode.
    static func admission(_ values: ValueReader, sse: inout SSEServer.Configuration, environment: [String: String]) throws -> SubscriberAuth {
        let origins = try values.value("cors.allow-origin", default: "", CORSPolicy.parseOrigins) {
            "must be origins (https://app.example.com, https://*.example.com) or *, separated by commas"
        }
        let credentials = try bool(values, "cors.allow-credentials")
        if credentials, origins.contains("*") {
            throw ConfigurationError(key: "cors.allow-credentials", problem: "cannot be used with cors.allow-origin *; list the origins")
        }
        sse.cors = CORSPolicy(origins: origins, allowCredentials: credentials)
        sse.connectionLimits = .init(
            perNode: try count(values, "limits.connections", default: "50000"),
            perClient: try count(values, "limits.connections-per-client", default: "16")
        )
        let rate = try values.value("limits.connect-rate", default: "20", { Double($0).flatMap { $0 >= 0 && $0.isFinite ? $0 : nil } }) {
            "must be a number of connections per second, 0 or more"
        }
        let burst = try values.value("limits.connect-burst", default: "40", { Double($0).flatMap { $0 >= 1 && $0.isFinite ? $0 : nil } }) {
            "must be a number, 1 or more"
        }
        sse.connectRate = .init(ratePerSecond: rate, burst: burst)
        sse.maxTopics = try count(values, "limits.topics-per-stream", default: "32")
        sse.maxHeaderSize = try values.size("limits.max-header-size", default: "16KiB", minimum: 1024)
        sse.trustedProxies = try values.value("proxy.trusted", default: "", TrustedProxies.parse) {
            "must be addresses or CIDRs (10.0.0.0/8, ::1), separated by commas"
        }
        let cookie = values.raw("auth.token-cookie") ?? ""
        sse.tokenCookie = cookie.isEmpty ? nil : cookie

        let mode = try values.value("auth.mode", default: "none", { ["none", "jwt", "delegate"].contains($0.lowercased()) ? $0.lowercased() : nil }) {
            "must be none, jwt or delegate"
        }
        switch mode {
        case "jwt":
            let keys = values.raw("auth.jwt.keys") ?? ""
            guard !keys.isEmpty else {
                throw ConfigurationError(key: "auth.jwt.keys", problem: "is required with auth.mode jwt ([kid=]ALG:path[,...])")
            }
            let keySet: JWTKeySet
            do {
                keySet = try JWTKeySet.load(keys, readFile: { path in
                    var resolved = path
                    if !path.hasPrefix("/"), let directory = environment["CREDENTIALS_DIRECTORY"] { resolved = directory + "/" + path }
                    return FileManager.default.contents(atPath: resolved)
                })
            } catch {
                throw ConfigurationError(key: "auth.jwt.keys", problem: error.description)
            }
            let audience = values.raw("auth.jwt.audience") ?? ""
            let issuer = values.raw("auth.jwt.issuer") ?? ""
            let claim = values.raw("auth.jwt.topics-claim") ?? "topics"
            let policy = SubscriberClaims.Policy(
                topicsClaim: claim.isEmpty ? "topics" : claim,
                audience: audience.isEmpty ? nil : audience, issuer: issuer.isEmpty ? nil : issuer,
                leeway: try values.duration("auth.jwt.leeway", default: "30s", minimum: .zero)
            )
            return .jwt(.init(keys: keySet, policy: policy))
        case "delegate":
            let endpoint = try values.value("auth.delegate.url", default: "", DelegateAuthenticator.Endpoint.init) {
                "must be http://127.0.0.1:PORT/path or unix:/path/to.sock:/path (required with auth.mode delegate)"
            }
            let headers = (values.raw("auth.delegate.headers") ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            return .delegate(
                .init(
                    endpoint: endpoint, forwardHeaders: headers,
                    timeout: try values.duration("auth.delegate.timeout", default: "2s", minimum: .milliseconds(10)),
                    cacheTTL: try values.duration("auth.delegate.cache-ttl", default: "5s", minimum: .zero),
                    cacheSize: max(1, try count(values, "auth.delegate.cache-size", default: "10000"))
                ))
        default:
            let allowAnonymous = try bool(values, "auth.allow-anonymous")
            if !allowAnonymous, !isLoopback(sse.host) {
                throw ConfigurationError(
                    key: "auth.mode",
                    problem: "listen address \(sse.host) is not loopback and no subscriber auth is set: set auth.mode (jwt or delegate), or auth.allow-anonymous: true to accept anyone"
                )
            }
            return .none(allowAnonymous: allowAnonymous)
        }
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    private static func bool(_ values: ValueReader, _ key: String) throws -> Bool {
        try values.value(key, default: "false", { ["true": true, "yes": true, "1": true, "false": false, "no": false, "0": false][$0.lowercased()] }) {
            "must be true or false"
        }
    }

    private static func count(_ values: ValueReader, _ key: String, default defaultValue: String) throws -> Int {
        try values.value(key, default: defaultValue, { Int($0).flatMap { $0 >= 0 ? $0 : nil } }) { "must be a whole number, 0 or more" }
    }
}
