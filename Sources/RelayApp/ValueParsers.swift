import Foundation

/// Parsers for the value syntaxes configuration keys use. Each returns `nil` on bad input;
/// the caller names the key in the error.
enum ValueParsers {
    /// `500ms`, `15s`, `5m`, `1h`, `1d`; a bare number means seconds.
    static func duration(_ text: String) -> Duration? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        for (suffix, scale) in units where trimmed.hasSuffix(suffix) {
            let number = trimmed.dropLast(suffix.count)
            // "5ms" also ends in "s": only accept a suffix whose prefix is a plain number.
            guard let value = Double(number), value >= 0, value.isFinite else { continue }
            return .milliseconds(Int64((value * scale * 1000).rounded()))
        }
        if let seconds = Double(trimmed), seconds >= 0, seconds.isFinite {
            return .milliseconds(Int64((seconds * 1000).rounded()))
        }
        return nil
    }

    /// `65536`, `64KiB`, `64KB`, `1MiB`, `1GiB` (binary multiples either way).
    static func size(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [(String, Int)] = [
            ("kib", 1 << 10), ("mib", 1 << 20), ("gib", 1 << 30),
            ("kb", 1 << 10), ("mb", 1 << 20), ("gb", 1 << 30),
            ("k", 1 << 10), ("m", 1 << 20), ("g", 1 << 30), ("b", 1),
        ]
        for (suffix, scale) in units where trimmed.hasSuffix(suffix) {
            guard let value = Int(trimmed.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), value >= 0 else { continue }
            let (bytes, overflow) = value.multipliedReportingOverflow(by: scale)
            return overflow ? nil : bytes
        }
        return Int(trimmed).flatMap { $0 >= 0 ? $0 : nil }
    }

    /// `HOST:PORT`, `[IPv6]:PORT`, or `:PORT` (all addresses).
    static func hostPort(_ text: String) -> (host: String, port: Int)? {
        let text = text.trimmingCharacters(in: .whitespaces)
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            return nil
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") {
            host = String(host.dropFirst().dropLast())
        } else if host.contains(":") {
            return nil  // an IPv6 address needs brackets
        }
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }

    /// An octal file mode: `0660`, `660`, `0o660`.
    static func fileMode(_ text: String) -> UInt32? {
        var digits = Substring(text.trimmingCharacters(in: .whitespaces))
        if digits.hasPrefix("0o") { digits = digits.dropFirst(2) }
        guard !digits.isEmpty, let mode = UInt32(digits, radix: 8), mode <= 0o7777 else { return nil }
        return mode
    }

    /// A user name or numeric uid (`www-data`, `33`), resolved now through NSS.
    static func userID(_ text: String) -> UInt32? {
        let name = text.trimmingCharacters(in: .whitespaces)
        if let uid = UInt32(name) { return uid }
        guard !name.isEmpty, let entry = getpwnam(name) else { return nil }
        return entry.pointee.pw_uid
    }

    /// A group name or numeric gid (`www-data`, `33`), resolved now through NSS.
    static func groupID(_ text: String) -> UInt32? {
        let name = text.trimmingCharacters(in: .whitespaces)
        if let gid = UInt32(name) { return gid }
        guard !name.isEmpty, let entry = getgrnam(name) else { return nil }
        return entry.pointee.gr_gid
    }

    /// A comma- or space-separated list of `parse`d items; empty text is an empty set, and a
    /// single bad item fails the whole list.
    static func list(_ text: String, _ parse: (String) -> UInt32?) -> Set<UInt32>? {
        var result: Set<UInt32> = []
        for item in text.split(whereSeparator: { $0 == "," || $0 == " " }) {
            guard let value = parse(String(item)) else { return nil }
            result.insert(value)
        }
        return result
    }
}
