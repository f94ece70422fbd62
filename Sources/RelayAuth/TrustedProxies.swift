import NIOCore

/// Which peers are proxies whose `X-Forwarded-For` is believed (`proxy.trusted`), and the
/// client address that results: the rightmost hop that is not a trusted proxy. Anyone else's
/// `X-Forwarded-For` is ignored, so a browser cannot pick the address its limits count against.
public struct TrustedProxies: Sendable, Equatable {
    public struct Network: Sendable, Equatable, CustomStringConvertible {
        /// Address bytes (4 or 16) and prefix length.
        var bytes: [UInt8]
        var prefix: Int
        let text: String
        public var description: String { text }

        /// `10.0.0.0/8`, `192.168.1.5`, `fd00::/8`, `::1`.
        public init?(_ text: String) {
            let parts = text.split(separator: "/", maxSplits: 1)
            guard let first = parts.first, let bytes = TrustedProxies.bytes(of: String(first)) else { return nil }
            let maximum = bytes.count * 8
            let prefix = parts.count == 2 ? Int(parts[1]) : maximum
            guard let prefix, (0...maximum).contains(prefix) else { return nil }
            self.bytes = bytes
            self.prefix = prefix
            self.text = text
        }

        func contains(_ address: [UInt8]) -> Bool {
            guard address.count == bytes.count else { return false }
            var remaining = prefix
            for (a, b) in zip(address, bytes) where remaining > 0 {
                let bits = min(8, remaining)
                let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
                if a & mask != b & mask { return false }
                remaining -= bits
            }
            return true
        }
    }

    public var networks: [Network]

    public init(_ networks: [Network] = []) {
        self.networks = networks
    }

    /// Parses a comma- or space-separated list; `nil` names nothing useful, so the caller
    /// reports the key.
    public static func parse(_ text: String) -> TrustedProxies? {
        var networks: [Network] = []
        for item in text.split(whereSeparator: { $0 == "," || $0 == " " }) {
            guard let network = Network(String(item)) else { return nil }
            networks.append(network)
        }
        return TrustedProxies(networks)
    }

    public func isTrusted(_ address: String) -> Bool {
        guard let bytes = Self.bytes(of: address) else { return false }
        return networks.contains { $0.contains(bytes) }
    }

    /// The client's address: `peer` itself unless it is a trusted proxy; then walk
    /// `X-Forwarded-For` (all such headers, in order) from the right, skipping trusted hops.
    public func clientAddress(peer: String, forwardedFor: [String]) -> String {
        guard !networks.isEmpty, isTrusted(peer) else { return peer }
        let hops = forwardedFor.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
        var client = peer
        for hop in hops.reversed() {
            guard Self.bytes(of: hop) != nil else { break }  // garbage ends the chain we can believe
            client = hop
            if !isTrusted(hop) { break }
        }
        return client
    }

    /// 127.0.0.0/8 and ::1: a local proxy or tool, not a browser.
    public static func isLoopback(_ address: String) -> Bool {
        guard let bytes = bytes(of: address) else { return false }
        return bytes.count == 4 ? bytes[0] == 127 : bytes == Array(repeating: 0, count: 15) + [1]
    }

    static func bytes(of text: String) -> [UInt8]? {
        var text = text
        if text.hasPrefix("["), text.hasSuffix("]") { text = String(text.dropFirst().dropLast()) }
        guard let address = try? SocketAddress(ipAddress: text, port: 0) else { return nil }
        switch address {
        case .v4(let v4):
            return withUnsafeBytes(of: v4.address.sin_addr) { Array($0) }
        case .v6(let v6):
            let bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
            // IPv4-mapped (::ffff:a.b.c.d) compares as IPv4.
            if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF { return Array(bytes[12...]) }
            return bytes
        case .unixDomainSocket:
            return nil
        }
    }
}

import Foundation
