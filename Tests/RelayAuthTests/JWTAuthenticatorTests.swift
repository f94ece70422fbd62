import Foundation
import JWTKit
import RelayCore
import Testing

@testable import RelayAuth

/// Tokens signed here with jwt-kit's private keys, verified by the authenticator with the
/// public halves loaded the way the relay loads them (key-list syntax, file contents).
@Suite struct JWTAuthenticatorTests {
    static let secret = "a-test-secret-of-at-least-16-bytes"
    let client = ClientID("alice")!

    func credentials(_ token: String?, client: String = "alice", topics: [String] = []) -> SubscribeCredentials {
        SubscribeCredentials(client: ClientID(client)!, topics: topics.map { TopicName($0)! }, token: token, headers: [], remoteAddress: "127.0.0.1")
    }

    func claims(sub: String = "alice", topics: [String]? = nil, expiresIn: TimeInterval = 60, extra: [String: [String]] = [:]) -> SubscriberClaims {
        var lists = extra
        if let topics { lists["topics"] = topics }
        return SubscriberClaims(subject: sub, expiresAt: Date().addingTimeInterval(expiresIn), stringLists: lists)
    }

    func authenticator(_ keyList: String, files: [String: String], policy: SubscriberClaims.Policy = .init()) async throws -> JWTAuthenticator {
        let keys = try JWTKeySet.load(keyList) { files[$0].map { Data($0.utf8) } }
        return await JWTAuthenticator(configuration: .init(keys: keys, policy: policy))
    }

    func hmacToken(_ claims: SubscriberClaims, secret: String = secret, kid: String? = nil) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256, kid: kid.map { JWKIdentifier(string: $0) })
        return try await keys.sign(claims, kid: kid.map { JWKIdentifier(string: $0) })
    }

    @Test func hs256TokenForThisClientAndTopicIsAdmitted() async throws {
        let auth = try await authenticator("HS256:/s", files: ["/s": Self.secret + "\n"])
        let token = try await hmacToken(claims(topics: ["news"]))
        let grant = try await auth.authenticate(credentials(token, topics: ["news"])).get()
        #expect(grant.client == client)
        #expect(grant.expiresAt != nil)
    }

    @Test func missingTokenIs401AndWrongSignatureIsInvalidToken() async throws {
        let auth = try await authenticator("HS256:/s", files: ["/s": Self.secret])
        guard case .failure(let missing) = await auth.authenticate(credentials(nil)) else { Issue.record("admitted"); return }
        #expect(missing.error.status == 401 && missing.error.code == "unauthenticated")
        #expect(missing.headers.contains(Refusal.Header("WWW-Authenticate", "Bearer")))
        let forged = try await hmacToken(claims(), secret: "another-secret-of-enough-length-xyz")
        guard case .failure(let bad) = await auth.authenticate(credentials(forged)) else { Issue.record("admitted"); return }
        #expect(bad.error.status == 401 && bad.error.code == "invalid_token")
        guard case .failure(let garbage) = await auth.authenticate(credentials("not.a.jwt")) else { Issue.record("admitted"); return }
        #expect(garbage.error.code == "invalid_token")
    }

    @Test func tokenForAnotherClientOrTopicIs403() async throws {
        let auth = try await authenticator("HS256:/s", files: ["/s": Self.secret])
        let token = try await hmacToken(claims(sub: "bob", topics: ["news"]))
        guard case .failure(let other) = await auth.authenticate(credentials(token)) else { Issue.record("admitted"); return }
        #expect(other.error.status == 403)
        #expect(!other.error.message.contains("bob"), "the error must not name the token's own client")
        let own = try await hmacToken(claims(topics: ["news"]))
        guard case .failure(let topic) = await auth.authenticate(credentials(own, topics: ["sports"])) else { Issue.record("admitted"); return }
        #expect(topic.error.status == 403)
    }

    @Test func expiredTokenIsRefusedButLeewayForgivesSkew() async throws {
        let strict = try await authenticator("HS256:/s", files: ["/s": Self.secret], policy: .init(leeway: .zero))
        let lenient = try await authenticator("HS256:/s", files: ["/s": Self.secret], policy: .init(leeway: .seconds(30)))
        let token = try await hmacToken(claims(expiresIn: -5))
        guard case .failure(let expired) = await strict.authenticate(credentials(token)) else { Issue.record("admitted"); return }
        #expect(expired.error.status == 401 && expired.error.message.contains("expired"))
        _ = try await lenient.authenticate(credentials(token)).get()
    }

    @Test func audienceAndIssuerAreCheckedWhenConfigured() {
        let policy = SubscriberClaims.Policy(audience: "relay", issuer: "https://app.example")
        var payload = claims()
        #expect(throws: Refusal.self) { try payload.check(client: client, topics: [], policy: policy, now: Date()).get() }
        payload.audience = ["relay", "other"]
        payload.issuer = "https://app.example"
        #expect(throws: Never.self) { try payload.check(client: client, topics: [], policy: policy, now: Date()).get() }
        payload.issuer = "https://evil.example"
        #expect(throws: Refusal.self) { try payload.check(client: client, topics: [], policy: policy, now: Date()).get() }
    }

    @Test func notBeforeInTheFutureIsRefused() {
        var payload = claims()
        payload.notBefore = Date().addingTimeInterval(120)
        #expect(throws: Refusal.self) { try payload.check(client: client, topics: [], policy: .init(), now: Date()).get() }
    }

    @Test func topicPrefixWildcardsAndCustomClaim() {
        #expect(TopicPattern.matches(["news.*"], "news.sport"))
        #expect(!TopicPattern.matches(["news.*"], "weather"))
        #expect(TopicPattern.matches(["*"], "anything"))
        #expect(!TopicPattern.matches(["news"], "news2"))
        let payload = claims(extra: ["rooms": ["lobby"]])
        let policy = SubscriberClaims.Policy(topicsClaim: "rooms")
        #expect(throws: Never.self) { try payload.check(client: client, topics: [TopicName("lobby")!], policy: policy, now: Date()).get() }
    }

    @Test func keysAreChosenByKidForRotation() async throws {
        let auth = try await authenticator("old=HS256:/old, new=HS256:/new", files: ["/old": Self.secret, "/new": "the-new-secret-for-rotation-0123456"])
        let oldToken = try await hmacToken(claims(), secret: Self.secret, kid: "old")
        let newToken = try await hmacToken(claims(), secret: "the-new-secret-for-rotation-0123456", kid: "new")
        _ = try await auth.authenticate(credentials(oldToken)).get()
        _ = try await auth.authenticate(credentials(newToken)).get()
        // After the old key is dropped (reload), its tokens stop working.
        await auth.replace(.init(keys: try JWTKeySet.load("new=HS256:/new") { _ in Data("the-new-secret-for-rotation-0123456".utf8) }, policy: .init()))
        guard case .failure(let refusal) = await auth.authenticate(credentials(oldToken)) else { Issue.record("old key still works"); return }
        #expect(refusal.error.status == 401)
        _ = try await auth.authenticate(credentials(newToken)).get()
    }

    @Test func es256AndEdDSAPublicKeysFromPEM() async throws {
        let ecPrivate = ES256PrivateKey()
        let edPrivate = try EdDSA.PrivateKey()
        let auth = try await authenticator(
            "ec=ES256:/ec.pem,ed=EdDSA:/ed.pem",
            files: ["/ec.pem": ecPrivate.publicKey.pemRepresentation, "/ed.pem": edPrivate.publicKey.pemRepresentation]
        )
        let signer = JWTKeyCollection()
        await signer.add(ecdsa: ecPrivate, kid: "ec")
        await signer.add(eddsa: edPrivate, kid: "ed")
        for kid in ["ec", "ed"] {
            let token = try await signer.sign(claims(), kid: JWKIdentifier(string: kid))
            _ = try await auth.authenticate(credentials(token)).get()
        }
    }

    @Test func badKeyListsAreRefusedWithTheEntryNamed() {
        #expect(throws: JWTKeySet.LoadError.self) { try JWTKeySet.load("HS256:/missing") { _ in nil } }
        #expect(throws: JWTKeySet.LoadError.self) { try JWTKeySet.load("XX999:/k") { _ in Data("x".utf8) } }
        #expect(throws: JWTKeySet.LoadError.self) { try JWTKeySet.load("ES256:/k") { _ in Data("not a pem".utf8) } }
        #expect(throws: JWTKeySet.LoadError.self) { try JWTKeySet.load("a=HS256:/k,a=HS256:/k") { _ in Data(Self.secret.utf8) } }
        #expect(throws: JWTKeySet.LoadError.self) { try JWTKeySet.load("HS256:/k") { _ in Data("short".utf8) } }
    }

    @Test func tokenComesFromHeaderThenQueryThenCookie() {
        #expect(TokenExtraction.token(authorization: "Bearer abc", queryToken: "q", cookieHeaders: [], cookieName: nil) == "abc")
        #expect(TokenExtraction.token(authorization: nil, queryToken: "q", cookieHeaders: [], cookieName: nil) == "q")
        #expect(TokenExtraction.token(authorization: "Basic x", queryToken: nil, cookieHeaders: ["a=1; sse_token=tok; b=2"], cookieName: "sse_token") == "tok")
        #expect(TokenExtraction.token(authorization: nil, queryToken: nil, cookieHeaders: ["sse_token=tok"], cookieName: nil) == nil)
    }
}

extension Data {
    init?(base64URL: String) {
        var text = base64URL.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.count % 4 != 0 { text += "=" }
        self.init(base64Encoded: text)
    }
}
