/// Where a subscriber's token may come from. Browsers' `EventSource` cannot set headers,
/// so the query parameter and a cookie are accepted too.
public enum TokenExtraction {
    /// `Authorization: Bearer` first, then `?token=`, then the cookie named `cookieName`.
    public static func token(authorization: String?, queryToken: String?, cookieHeaders: [String], cookieName: String?) -> String? {
        if let authorization {
            let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
            if parts.count == 2, parts[0].lowercased() == "bearer" {
                let token = parts[1].trimmingCharacters(in: .whitespaces)
                if !token.isEmpty { return token }
            }
        }
        if let queryToken, !queryToken.isEmpty { return queryToken }
        if let cookieName, !cookieName.isEmpty {
            for header in cookieHeaders {
                for pair in header.split(separator: ";") {
                    let trimmed = pair.trimmingCharacters(in: .whitespaces)
                    guard let equals = trimmed.firstIndex(of: "=") else { continue }
                    if trimmed[..<equals] == cookieName {
                        var value = trimmed[trimmed.index(after: equals)...]
                        if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = value.dropFirst().dropLast() }
                        if !value.isEmpty { return String(value) }
                    }
                }
            }
        }
        return nil
    }
}

import Foundation
