/// One broker address, parsed from `amqp://user:password@host:port/vhost`.
///
/// Follows RabbitMQ's URI spec where it is unambiguous: user, password and vhost are
/// percent-decoded (`%2F` is a `/` in a vhost name), the port defaults to 5672 and the
/// credentials to guest/guest. Two deliberate departures: an empty path means the default
/// vhost `/` (what people mean by `amqp://host/`), and an empty host is an error rather than
/// `localhost`, so a typo in a configuration file does not silently point somewhere else.
///
/// `description` masks the password, so a URL can go into logs and errors as it is.
public struct AMQPURL: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String
    public var vhost: String

    public static let defaultPort = 5672

    public init(host: String, port: Int = AMQPURL.defaultPort, user: String = "guest", password: String = "guest", vhost: String = "/") {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.vhost = vhost
    }

    public init(parsing text: String) throws(AMQPError) {
        let masked = Self.mask(text)
        func invalid(_ why: String) -> AMQPError {
            AMQPError(.invalidURL, "\(masked): \(why)")
        }

        guard let schemeEnd = text.firstRange(of: "://") else {
            throw invalid("expected amqp://user:password@host:port/vhost")
        }
        let scheme = text[..<schemeEnd.lowerBound].lowercased()
        switch scheme {
        case "amqp":
            break
        case "amqps":
            throw AMQPError(.unsupportedScheme, "\(masked): amqps (TLS) is not supported by this build; use amqp:// over a trusted network or a TLS tunnel")
        default:
            throw invalid("unknown scheme '\(scheme)', expected amqp")
        }

        var rest = text[schemeEnd.upperBound...]
        if rest.contains("?") || rest.contains("#") {
            throw invalid("query parameters and fragments are not supported")
        }
        var path: Substring?
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }

        var hostAndPort = rest
        var user = "guest"
        var password = "guest"
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            hostAndPort = rest[rest.index(after: at)...]
            let rawUser: Substring
            if let colon = userInfo.firstIndex(of: ":") {
                rawUser = userInfo[..<colon]
                guard let decoded = Self.percentDecode(userInfo[userInfo.index(after: colon)...]) else {
                    throw invalid("bad percent-encoding in the password")
                }
                password = decoded
            } else {
                rawUser = userInfo
            }
            guard let decodedUser = Self.percentDecode(rawUser) else {
                throw invalid("bad percent-encoding in the user name")
            }
            guard !decodedUser.isEmpty else { throw invalid("empty user name") }
            user = decodedUser
        }

        var host: Substring
        var portText: Substring?
        if hostAndPort.hasPrefix("[") {
            // An IPv6 literal: its colons are not the port separator.
            guard let close = hostAndPort.firstIndex(of: "]") else { throw invalid("unterminated IPv6 address") }
            host = hostAndPort[hostAndPort.index(after: hostAndPort.startIndex)..<close]
            let after = hostAndPort[hostAndPort.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw invalid("unexpected characters after the IPv6 address") }
                portText = after.dropFirst()
            }
        } else if let colon = hostAndPort.lastIndex(of: ":") {
            host = hostAndPort[..<colon]
            portText = hostAndPort[hostAndPort.index(after: colon)...]
        } else {
            host = hostAndPort
        }
        guard !host.isEmpty else { throw invalid("missing host") }

        var port = Self.defaultPort
        if let portText {
            guard portText.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
                let value = Int(portText), (1...65_535).contains(value)
            else {
                throw invalid("port must be a number from 1 to 65535, got '\(portText)'")
            }
            port = value
        }

        var vhost = "/"
        if let path, !path.isEmpty {
            // An unencoded slash is ambiguous (nested path or vhost name?): RabbitMQ's spec
            // requires %2F for a slash inside the vhost name.
            guard !path.contains("/") else { throw invalid("a '/' inside the vhost must be written %2F") }
            guard let decoded = Self.percentDecode(path) else { throw invalid("bad percent-encoding in the vhost") }
            vhost = decoded
        }

        self.init(host: String(host), port: port, user: user, password: password, vhost: vhost)
    }

    /// The URL with the password replaced by `***`.
    public var description: String {
        let hostPart = host.contains(":") ? "[\(host)]" : host
        let path = vhost == "/" ? "" : Self.percentEncode(vhost)
        return "amqp://\(Self.percentEncode(user)):***@\(hostPart):\(port)/\(path)"
    }

    /// Masks whatever sits between `user:` and `@`, for echoing a URL that did not parse.
    static func mask(_ text: String) -> String {
        guard let schemeEnd = text.firstRange(of: "://") else { return text }
        let afterScheme = text[schemeEnd.upperBound...]
        let authorityEnd = afterScheme.firstIndex(of: "/") ?? afterScheme.endIndex
        let authority = afterScheme[..<authorityEnd]
        guard let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") else { return text }
        return String(text[..<authority.index(after: colon)]) + "***" + String(text[at...])
    }

    private static func percentDecode(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static func percentEncode(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                UInt8(ascii: "_"), UInt8(ascii: "~"):
                bytes.append(byte)
            default:
                bytes.append(UInt8(ascii: "%"))
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
