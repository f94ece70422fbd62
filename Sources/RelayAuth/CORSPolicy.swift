/// Which browser origins may read streams, and with credentials or not.
///
/// Origins are exact (`https://app.example.com`), wildcard subdomains
/// (`https://*.example.com`: any subdomain, not the bare domain), or `*` (any origin,
/// without credentials). Unknown origins get no CORS headers at all, so the browser blocks
/// the response; the request itself is still answered (CORS is not access control: auth is).
public struct CORSPolicy: Sendable, Equatable {
    public var origins: [String]
    /// Send `Access-Control-Allow-Credentials: true` (cookies ride along). Then the origin is
    /// always echoed, never `*`.
    public var allowCredentials: Bool

    public static let allowedHeaders = "Authorization, Last-Event-ID, Cache-Control"
    public static let allowedMethods = "GET, OPTIONS"

    public init(origins: [String] = [], allowCredentials: Bool = false) {
        self.origins = origins.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        self.allowCredentials = allowCredentials
    }

    /// Parses `cors.allow-origin`: a comma- or space-separated list. `nil` when an entry is not
    /// an origin (`scheme://host[:port]`, optionally `*.` before the host) or `*`.
    public static func parseOrigins(_ text: String) -> [String]? {
        let items = text.split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init)
        for item in items where item != "*" {
            guard let schemeEnd = item.range(of: "://"), !item[schemeEnd.upperBound...].isEmpty,
                !item[schemeEnd.upperBound...].contains("/"), !item.contains(where: { $0 == "\r" || $0 == "\n" }),
                !item[schemeEnd.upperBound...].dropFirst(2).contains("*")
            else { return nil }
        }
        return items
    }

    public var isEnabled: Bool { !origins.isEmpty }

    /// Whether `origin` (the request's `Origin` header) is allowed.
    public func allows(_ origin: String) -> Bool {
        origins.contains { Self.matches(pattern: $0, origin: origin) }
    }

    static func matches(pattern: String, origin: String) -> Bool {
        if pattern == "*" { return true }
        let pattern = pattern.lowercased()
        let origin = origin.lowercased()
        guard let star = pattern.range(of: "://*.") else { return pattern == origin }
        // https://*.example.com: same scheme, some host ending in ".example.com", same port.
        let scheme = pattern[..<star.lowerBound]
        let suffix = "." + pattern[star.upperBound...]
        guard origin.hasPrefix(scheme + "://") else { return false }
        let host = origin.dropFirst(scheme.count + 3)
        return host.hasSuffix(suffix) && host.count > suffix.count && !host.dropLast(suffix.count).contains("/")
    }

    /// Headers for a response to a request from `origin` (nil: not a cross-origin request).
    public func headers(origin: String?) -> [(String, String)] {
        guard isEnabled else { return [] }
        if !allowCredentials, origins == ["*"] {
            return [("Access-Control-Allow-Origin", "*")]
        }
        guard let origin, allows(origin) else {
            // The answer depends on Origin: caches must keep one per origin.
            return [("Vary", "Origin")]
        }
        var headers = [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
        if allowCredentials { headers.append(("Access-Control-Allow-Credentials", "true")) }
        return headers
    }

    /// Extra headers for a preflight (`OPTIONS`) from an allowed origin.
    public func preflightHeaders(origin: String?) -> [(String, String)] {
        var headers = self.headers(origin: origin)
        guard headers.contains(where: { $0.0 == "Access-Control-Allow-Origin" }) else { return headers }
        headers.append(("Access-Control-Allow-Methods", Self.allowedMethods))
        headers.append(("Access-Control-Allow-Headers", Self.allowedHeaders))
        headers.append(("Access-Control-Max-Age", "600"))
        return headers
    }
}
