import Foundation

/// Where the cluster's Redis is and how to log in.
public struct RedisConfiguration: Sendable, Equatable {
    public enum Endpoint: Sendable, Equatable {
        case direct(host: String, port: Int)
        /// Ask these Sentinels for the current master of `masterName`; follow failovers.
        case sentinel(addresses: [Address], masterName: String)
    }

    public struct Address: Sendable, Equatable, CustomStringConvertible {
        public var host: String
        public var port: Int
        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
        public var description: String { "\(host):\(port)" }
    }

    public var endpoint: Endpoint
    /// ACL user (Redis 6+); `nil` with a password means the legacy `AUTH password`.
    public var username: String?
    public var password: String?
    public var database: Int
    /// Prefix of every key, so several relay clusters can share one Redis.
    public var keyPrefix: String
    public var timeout: Duration

    public init(endpoint: Endpoint, username: String? = nil, password: String? = nil, database: Int = 0, keyPrefix: String = "sse-relay:", timeout: Duration = .seconds(2)) {
        self.endpoint = endpoint
        self.username = username
        self.password = password
        self.database = database
        self.keyPrefix = keyPrefix
        self.timeout = timeout
    }

    /// Parses `redis://[user[:password]@]host[:port][/db]`.
    public init(url: String, keyPrefix: String = "sse-relay:") throws(RedisError) {
        guard let components = URLComponents(string: url), components.scheme == "redis" else {
            throw .badURL("expected redis://[user[:password]@]host[:port][/db], got \(Self.masked(url))")
        }
        guard let host = components.host, !host.isEmpty else { throw .badURL("no host in \(Self.masked(url))") }
        let path = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        var database = 0
        if !path.isEmpty {
            guard let number = Int(path), number >= 0 else { throw .badURL("database must be a number, got \(path)") }
            database = number
        }
        let user = components.user.flatMap { $0.isEmpty ? nil : $0.removingPercentEncoding }
        self.init(
            endpoint: .direct(host: host, port: components.port ?? 6379),
            username: components.password == nil ? nil : user,
            // `redis://:secret@host` and `redis://secret@host` both mean a password only.
            password: components.password?.removingPercentEncoding ?? (components.password == nil ? user : nil),
            database: database,
            keyPrefix: keyPrefix
        )
    }

    /// Sets the password from a secret file. With a file, the URL's lone user part
    /// (`redis://relay@host`) names the ACL user, as it would with `redis://relay:pw@host`.
    public mutating func usePassword(_ secret: String) {
        if username == nil, let lone = password {
            username = lone
        }
        password = secret
    }

    /// Parses `host:port,host:port` Sentinel addresses.
    public static func sentinelAddresses(_ list: String) throws(RedisError) -> [Address] {
        var addresses: [Address] = []
        for item in list.split(separator: ",") {
            let parts = item.trimmingCharacters(in: .whitespaces).split(separator: ":")
            guard parts.count == 2, let port = Int(parts[1]), (1...65535).contains(port) else {
                throw .badURL("sentinel addresses must be host:port[,host:port...], got \(item)")
            }
            addresses.append(Address(host: String(parts[0]), port: port))
        }
        guard !addresses.isEmpty else { throw .badURL("no sentinel address given") }
        return addresses
    }

    /// The URL with its password replaced, for logs and errors.
    public static func masked(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "***"
        return components.string ?? "redis://***"
    }

    public var endpointDescription: String {
        switch endpoint {
        case .direct(let host, let port): "\(host):\(port)/\(database)"
        case .sentinel(let addresses, let name): "sentinel \(addresses.map(\.description).joined(separator: ",")) master \(name)"
        }
    }
}
