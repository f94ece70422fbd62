import Foundation
import NIOCore
import RelayCore
import Testing

@testable import RelayAuth

@Suite struct CORSPolicyTests {
    @Test func exactAndWildcardSubdomainOrigins() {
        let policy = CORSPolicy(origins: ["https://app.example.com", "https://*.example.org"])
        #expect(policy.allows("https://app.example.com"))
        #expect(!policy.allows("http://app.example.com"))
        #expect(!policy.allows("https://app.example.com.evil.net"))
        #expect(policy.allows("https://a.example.org"))
        #expect(policy.allows("https://a.b.example.org"))
        #expect(!policy.allows("https://example.org"), "the wildcard means subdomains, not the bare domain")
        #expect(!policy.allows("https://evilexample.org"))
        #expect(!policy.allows("http://a.example.org"))
    }

    @Test func credentialsEchoTheOriginWithVaryAndNeverStar() {
        let policy = CORSPolicy(origins: ["https://app.example.com"], allowCredentials: true)
        let headers = Dictionary(uniqueKeysWithValues: policy.headers(origin: "https://app.example.com"))
        #expect(headers["Access-Control-Allow-Origin"] == "https://app.example.com")
        #expect(headers["Access-Control-Allow-Credentials"] == "true")
        #expect(headers["Vary"] == "Origin")
    }

    @Test func unknownOriginsGetNoAllowHeaders() {
        let policy = CORSPolicy(origins: ["https://app.example.com"])
        #expect(!policy.headers(origin: "https://evil.example").contains { $0.0 == "Access-Control-Allow-Origin" })
        #expect(!policy.preflightHeaders(origin: "https://evil.example").contains { $0.0 == "Access-Control-Allow-Methods" })
        #expect(CORSPolicy().headers(origin: "https://app.example.com").isEmpty)
    }

    @Test func starStaysStarWithoutCredentialsForCompatibility() {
        #expect(CORSPolicy(origins: ["*"]).headers(origin: nil).first?.1 == "*")
        let preflight = CORSPolicy(origins: ["*"]).preflightHeaders(origin: "https://x.example")
        #expect(preflight.contains { $0 == ("Access-Control-Allow-Headers", "Authorization, Last-Event-ID, Cache-Control") })
    }

    @Test func parsingRejectsPathsAndLineBreaks() {
        #expect(CORSPolicy.parseOrigins("https://a.example, https://*.b.example") == ["https://a.example", "https://*.b.example"])
        #expect(CORSPolicy.parseOrigins("*") == ["*"])
        #expect(CORSPolicy.parseOrigins("https://a.example/path") == nil)
        #expect(CORSPolicy.parseOrigins("a.example") == nil)
        #expect(CORSPolicy.parseOrigins("https://a.*.example") == nil)
    }
}

@Suite struct TrustedProxiesTests {
    let proxies = TrustedProxies.parse("10.0.0.0/8, 192.168.1.5, fd00::/8")!

    @Test func untrustedPeersForwardedForIsIgnored() {
        #expect(proxies.clientAddress(peer: "203.0.113.9", forwardedFor: ["1.2.3.4"]) == "203.0.113.9")
        #expect(TrustedProxies().clientAddress(peer: "10.0.0.1", forwardedFor: ["1.2.3.4"]) == "10.0.0.1")
    }

    @Test func rightmostUntrustedHopIsTheClient() {
        // The browser may have put anything on the left; only what trusted hops appended counts.
        #expect(proxies.clientAddress(peer: "10.1.2.3", forwardedFor: ["6.6.6.6, 198.51.100.7, 10.9.9.9"]) == "198.51.100.7")
        #expect(proxies.clientAddress(peer: "192.168.1.5", forwardedFor: ["6.6.6.6", "198.51.100.7"]) == "198.51.100.7")
        #expect(proxies.clientAddress(peer: "fd00::1", forwardedFor: ["2001:db8::1"]) == "2001:db8::1")
    }

    @Test func garbageEndsTheChainAndAllTrustedGivesTheLeftmost() {
        #expect(proxies.clientAddress(peer: "10.0.0.1", forwardedFor: ["not-an-ip, 198.51.100.7"]) == "198.51.100.7")
        #expect(proxies.clientAddress(peer: "10.0.0.1", forwardedFor: ["garbage"]) == "10.0.0.1")
        #expect(proxies.clientAddress(peer: "10.0.0.1", forwardedFor: ["10.0.0.2, 10.0.0.3"]) == "10.0.0.2")
    }

    @Test func cidrMatchingAndParsing() {
        #expect(proxies.isTrusted("10.255.0.1"))
        #expect(!proxies.isTrusted("11.0.0.1"))
        #expect(proxies.isTrusted("::ffff:10.0.0.1"), "IPv4-mapped addresses compare as IPv4")
        #expect(TrustedProxies.parse("10.0.0.0/33") == nil)
        #expect(TrustedProxies.parse("hello") == nil)
        #expect(TrustedProxies.parse("")?.networks.isEmpty == true)
    }
}

@Suite struct ConnectRateLimiterTests {
    let configuration = ConnectRateLimiter.Configuration(ratePerSecond: 2, burst: 3, maxAddresses: 4)

    @Test func burstThenRateWithRetryAfter() {
        let limiter = ConnectRateLimiter()
        for _ in 0..<3 { #expect(limiter.acquire("a", now: 100, configuration: configuration) == nil) }
        #expect(limiter.acquire("a", now: 100, configuration: configuration) == 1)
        #expect(limiter.acquire("b", now: 100, configuration: configuration) == nil, "addresses have their own buckets")
        #expect(limiter.acquire("a", now: 100.5, configuration: configuration) == nil, "half a second refills one token at 2/s")
    }

    @Test func memoryIsBoundedAndRefilledBucketsAreDropped() {
        let limiter = ConnectRateLimiter()
        for i in 0..<100 { _ = limiter.acquire("10.0.0.\(i)", now: 50, configuration: configuration) }
        #expect(limiter.count <= 4)
        _ = limiter.acquire("x", now: 60, configuration: configuration)
        #expect(limiter.count == 1, "after 10 s every old bucket is full again and forgotten")
    }

    @Test func zeroRateDisablesTheLimit() {
        let limiter = ConnectRateLimiter()
        for _ in 0..<100 { #expect(limiter.acquire("a", now: 1, configuration: .init(ratePerSecond: 0, burst: 1)) == nil) }
    }
}

@Suite struct ConnectionLedgerTests {
    @Test func perNodeAndPerClientLimitsStayExactAcrossCloses() {
        let ledger = ConnectionLedger()
        let limits = ConnectionLedger.Limits(perNode: 3, perClient: 2)
        let a = ClientID("a")!, b = ClientID("b")!
        #expect(ledger.reserve(a, limits: limits) == nil)
        #expect(ledger.reserve(a, limits: limits) == nil)
        #expect(ledger.reserve(a, limits: limits)?.error.status == 429)
        #expect(ledger.reserve(b, limits: limits) == nil)
        let full = ledger.reserve(b, limits: limits)
        #expect(full?.error.status == 503 && full?.headers.contains { $0.name == "Retry-After" } == true)
        ledger.release(a)
        #expect(ledger.total == 2 && ledger.held(by: a) == 1)
        #expect(ledger.reserve(b, limits: limits) == nil)
        ledger.release(a); ledger.release(b); ledger.release(b)
        #expect(ledger.total == 0 && ledger.held(by: b) == 0)
    }
}

@Suite struct DelegateDecisionTests {
    let request = SubscribeCredentials(client: ClientID("alice")!, topics: [TopicName("news")!], token: nil, headers: [], remoteAddress: "127.0.0.1")

    func decide(_ status: Int, _ body: String = "") -> Result<Grant, Refusal> {
        DelegateAuthenticator.decide(status: status, body: ByteBuffer(string: body), request: request, now: Date(timeIntervalSince1970: 1000))
    }

    @Test func statusesMapToAdmitUnauthenticatedForbiddenOrUnavailable() throws {
        #expect(try decide(204).get().client == request.client)
        #expect(throws: Refusal.self) { try decide(401).get() }
        if case .failure(let r) = decide(401) { #expect(r.error.status == 401) }
        if case .failure(let r) = decide(403) { #expect(r.error.status == 403) }
        if case .failure(let r) = decide(500) { #expect(r.error.status == 503 && r.reason == .authUnavailable) }
        if case .failure(let r) = decide(302) { #expect(r.error.status == 503) }
    }

    @Test func answerNamingIdAndTopicsWins() throws {
        #expect(throws: Refusal.self) { try decide(200, #"{"client_id":"bob"}"#).get() }
        #expect(throws: Refusal.self) { try decide(200, #"{"topics":["sports"]}"#).get() }
        let grant = try decide(200, #"{"client_id":"alice","topics":["news*"],"expires_in":30}"#).get()
        #expect(grant.expiresAt == Date(timeIntervalSince1970: 1030))
    }

    @Test func endpointsParse() {
        #expect(DelegateAuthenticator.Endpoint("http://127.0.0.1:9000/auth") == .tcp(host: "127.0.0.1", port: 9000, path: "/auth"))
        #expect(DelegateAuthenticator.Endpoint("unix:/run/app.sock:/auth/sse") == .unix(socketPath: "/run/app.sock", path: "/auth/sse"))
        #expect(DelegateAuthenticator.Endpoint("https://x/auth") == nil)
        #expect(DelegateAuthenticator.Endpoint("unix:relative.sock:/a") == nil)
    }

    @Test func cacheIsBounded() {
        let cache = DelegateCache(capacity: 3)
        let later = NIODeadline.now() + .seconds(60)
        for i in 0..<10 { cache.store("k\(i)", .failure(.forbidden("no")), until: later) }
        #expect(cache.count <= 3)
        #expect(cache.lookup("k9", now: .now()) != nil)
        #expect(cache.lookup("k0", now: .now()) == nil)
    }
}
