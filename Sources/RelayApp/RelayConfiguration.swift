import Configuration
import Foundation
import Logging
import RelayAuth
import RelayCore
import RelayPublishing
import RelayRedis
import RelaySSE

/// Everything `sse-relay serve` is configured with, validated.
public struct RelayConfiguration: Sendable {
    public var nodeID: String
    public var sse: SSEServer.Configuration
    public var publish: PublishServer.Configuration
    public var history: ReplayWindow.Configuration
    public var logLevel: Logger.Level
    /// `auto` (journald when stderr is the journal), `journald` or `text`.
    public var logFormat: String
    /// On SIGTERM, streams are closed spread over this period so reconnects do not stampede
    /// the other nodes.
    public var drainPeriod: Duration
    /// The metrics, health and status port; `nil` when disabled (`metrics.listen` empty or `off`).
    public var metrics: MetricsServer.Configuration?
    /// Set when both Redis and RabbitMQ are configured; `nil` runs standalone.
    public var cluster: Cluster?
    /// How subscribers are admitted (`auth.*`); limits, CORS and proxies live in `sse`.
    public var auth: SubscriberAuth

    public struct Cluster: Sendable {
        public var redis: RedisConfiguration
        /// Tried in order; the first reachable one is used (a RabbitMQ cluster).
        public var amqpURLs: [String]
        public var amqpPassword: String?
        public var amqpExchange: String
        /// `host:port` other tools and operators see for this node's subscribers.
        public var advertise: String
        public var heartbeat: Duration
        public var ttl: Duration
        public var startupTimeout: Duration
    }

    /// Every key the relay reads, with its default, in the order the example file lists them.
    /// Flags, environment variables and file keys are all derived from these names.
    public static let keys: [(key: String, defaultValue: String, help: String)] = [
        ("listen", "127.0.0.1:8080", "Subscriber HTTP address, HOST:PORT."),
        ("node-id", "<hostname>", "This node's id in reports, logs and (later) the cluster registry."),
        ("publish.socket", "/run/sse-relay/publish.sock", "Unix socket for the publish API."),
        ("publish.socket-mode", "0660", "Permission bits of the publish socket (octal)."),
        ("publish.socket-group", "", "Group of the publish socket, a name or gid (empty: the relay's own group)."),
        ("publish.allowed-uids", "", "Users allowed to publish, names or uids, comma-separated (empty with allowed-gids empty: anyone who can open the socket)."),
        ("publish.allowed-gids", "", "Groups allowed to publish (primary or supplementary group of the publisher), names or gids."),
        ("publish.max-body-size", "16MiB", "Largest publish request body (bulk NDJSON included)."),
        ("publish.max-batch-events", "10000", "Most events (NDJSON lines) in one bulk publish request."),
        ("publish.request-timeout", "10s", "A publish request must arrive completely within this once begun; slower writers are disconnected."),
        ("publish.idle-timeout", "75s", "A publish connection may stay silent this long before and between requests (keep connection pools' idle limit below it)."),
        ("http.request-timeout", "10s", "A subscriber connection must send a complete request within this of connecting (or of its previous answer); slower or silent clients are disconnected."),
        ("stream.keep-alive", "15s", "Idle time after which a keep-alive comment is sent."),
        ("stream.max-lifetime", "1h", "Streams are closed cleanly after about this long (10% jitter); browsers resume."),
        ("stream.buffer-limit", "256KiB", "Unsent bytes a stream may queue before it is closed as a slow consumer."),
        ("stream.retry", "2000ms", "The retry: hint sent at the start of each stream."),
        ("history.size", "100", "Events kept for replay per client id and per topic (0 disables replay)."),
        ("history.age", "5m", "How long events stay replayable."),
        ("history.max-bytes", "64MiB", "Memory cap for all kept events together."),
        ("events.max-size", "64KiB", "Largest event (data plus name) accepted."),
        ("events.rate-limit-per-client", "0", "Events per second each client id may receive from publishers, on average (0: unlimited)."),
        ("events.rate-limit-burst", "<rate>", "Events a client id may receive at once above that rate (at least 1)."),
        ("events.rate-limit-action", "drop", "Over the rate: drop (reported as dropped: rate_limited, counted) or coalesce (held back, the latest per client id sent when the rate allows)."),
        ("cors.allow-origin", "", "Origins allowed to read streams: exact, https://*.example.com, or * (comma-separated; empty: none)."),
        ("log.level", "info", "trace, debug, info, notice, warning, error or critical."),
        ("log.format", "auto", "auto (journald when stderr is the journal), journald or text."),
        ("drain.period", "10s", "On SIGTERM, streams are closed spread over this period (browsers reconnect elsewhere)."),
        ("metrics.listen", "127.0.0.1:9464", "Prometheus /metrics, /healthz, /readyz and the status page, HOST:PORT (empty or off: disabled)."),
        ("redis.url", "", "Cluster mode: redis://[user[:password]@]host[:port][/db]."),
        ("redis.sentinels", "", "Cluster mode through Sentinel: host:port[,host:port...] (instead of the URL's host)."),
        ("redis.master-name", "", "The Sentinel master name."),
        ("redis.password-file", "", "File holding the Redis password (relative paths: under $CREDENTIALS_DIRECTORY)."),
        ("redis.key-prefix", "sse-relay:", "Prefix of every key, so several relay clusters can share one Redis."),
        ("amqp.url", "", "Cluster mode: amqp://user:password@host:port/vhost, several separated by commas."),
        ("amqp.password-file", "", "File holding the RabbitMQ password (relative paths: under $CREDENTIALS_DIRECTORY)."),
        ("amqp.exchange", "sse-relay", "The direct exchange nodes' queues are bound to."),
        ("cluster.advertise", "<listen>", "host:port of this node's subscriber port, as the registry shows it."),
        ("cluster.heartbeat", "5s", "How often this node refreshes its registry entries."),
        ("cluster.ttl", "15s", "How long registry entries live without a heartbeat."),
        ("cluster.startup-timeout", "30s", "How long start-up waits for Redis and RabbitMQ before giving up with the reason."),
    ] + admissionKeys

    /// `stream.keep-alive` → `SSE_RELAY_STREAM_KEEP_ALIVE`.
    public static func environmentName(of key: String) -> String {
        "SSE_RELAY_" + key.uppercased().map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined()
    }

    /// Reads and validates the configuration.
    ///
    /// - Parameters:
    ///   - overrides: values from command-line flags, by key (highest precedence).
    ///   - environment: the process environment (`SSE_RELAY_*`).
    ///   - file: a JSON or YAML file (lowest precedence), or `nil`.
    public static func load(overrides: [String: String], environment: [String: String], file: String?) async throws -> RelayConfiguration {
        var providers: [any ConfigProvider] = [
            InMemoryProvider(
                name: "flags",
                values: Dictionary(uniqueKeysWithValues: overrides.map { (AbsoluteConfigKey(ConfigKey($0.key)), ConfigValue(.string($0.value), isSecret: false)) })
            ),
            EnvironmentVariablesProvider(environmentVariables: environment).prefixKeys(with: "sse-relay"),
        ]
        if let file {
            providers.append(try await fileProvider(file))
        }
        return try RelayConfiguration(reader: ConfigReader(providers: providers), environment: environment)
    }

    private static func fileProvider(_ path: String) async throws -> any ConfigProvider {
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw ConfigurationError(key: "config", problem: "cannot read configuration file \(path)")
        }
        do {
            switch (path as NSString).pathExtension.lowercased() {
            case "json":
                return try await FileProvider<JSONSnapshot>(filePath: .init(path))
            case "yaml", "yml":
                return try await FileProvider<YAMLSnapshot>(filePath: .init(path))
            default:
                throw ConfigurationError(key: "config", problem: "\(path): the file name must end in .json, .yaml or .yml")
            }
        } catch let error as ConfigurationError {
            throw error
        } catch {
            throw ConfigurationError(key: "config", problem: "\(path) is not valid: \(error)")
        }
    }

    init(reader: ConfigReader, environment: [String: String]) throws {
        let values = ValueReader(reader: reader, environment: environment)
        nodeID = try values.value("node-id", default: Self.hostName()) { value in
            ClientID(value) != nil ? value : nil
        } problem: { "must be \(ClientID.rules)" }
        let listen = try values.value("listen", default: "127.0.0.1:8080", ValueParsers.hostPort) {
            "must be HOST:PORT, [IPv6]:PORT or :PORT"
        }
        let keepAlive = try values.duration("stream.keep-alive", default: "15s", minimum: .milliseconds(10))
        let maxLifetime = try values.duration("stream.max-lifetime", default: "1h", minimum: .milliseconds(100))
        let bufferLimit = try values.size("stream.buffer-limit", default: "256KiB", minimum: 1024)
        let retry = try values.duration("stream.retry", default: "2000ms", minimum: .zero)
        var sse = SSEServer.Configuration(
            host: listen.host, port: listen.port, nodeID: nodeID,
            keepAlive: keepAlive, maxLifetime: maxLifetime, bufferLimit: bufferLimit,
            retryMilliseconds: Int(retry.milliseconds)
        )
        sse.requestTimeout = try values.duration("http.request-timeout", default: "10s", minimum: .milliseconds(100))
        auth = try Self.admission(values, sse: &sse, environment: environment)
        self.sse = sse

        let maxEventSize = try values.size("events.max-size", default: "64KiB", minimum: 1)
        publish = PublishServer.Configuration(
            socketPath: try values.value("publish.socket", default: "/run/sse-relay/publish.sock") { $0.hasPrefix("/") || $0.hasPrefix(".") ? $0 : "./" + $0 } problem: { "must be a path" },
            socketMode: try values.value("publish.socket-mode", default: "0660", ValueParsers.fileMode) { "must be an octal mode such as 0660" },
            socketGroup: try values.value("publish.socket-group", default: "") { $0.isEmpty ? .some(nil) : ValueParsers.groupID($0).map { .some($0) } } problem: {
                "is not a known group name or gid"
            },
            maxEventSize: maxEventSize,
            maxBodySize: try values.size("publish.max-body-size", default: "16MiB", minimum: maxEventSize),
            maxBatchEvents: try values.value("publish.max-batch-events", default: "10000", { Int($0).flatMap { $0 >= 1 ? $0 : nil } }) {
                "must be a whole number, 1 or more"
            },
            access: PublisherAccess(
                allowedUIDs: try values.value("publish.allowed-uids", default: "", { ValueParsers.list($0, ValueParsers.userID) }) {
                    "must list user names or uids known to this host, separated by commas"
                },
                allowedGIDs: try values.value("publish.allowed-gids", default: "", { ValueParsers.list($0, ValueParsers.groupID) }) {
                    "must list group names or gids known to this host, separated by commas"
                }
            ),
            rateLimit: try Self.rateLimit(values),
            rateLimitAction: try values.value("events.rate-limit-action", default: "drop", PublishRateLimiter.Action.init(rawValue:)) {
                "must be drop or coalesce"
            },
            requestTimeout: try values.duration("publish.request-timeout", default: "10s", minimum: .milliseconds(100)),
            idleTimeout: try values.duration("publish.idle-timeout", default: "75s", minimum: .milliseconds(100))
        )

        history = ReplayWindow.Configuration(
            eventsPerStream: try values.value("history.size", default: "100", { Int($0).flatMap { $0 >= 0 ? $0 : nil } }) { "must be a whole number, 0 or more" },
            maxAge: try values.duration("history.age", default: "5m", minimum: .zero),
            maxBytes: try values.size("history.max-bytes", default: "64MiB", minimum: 0)
        )
        logLevel = try values.value("log.level", default: "info", { Logger.Level(rawValue: $0.lowercased()) }) {
            "must be one of trace, debug, info, notice, warning, error, critical"
        }
        logFormat = try values.value("log.format", default: "auto", { ["auto", "journald", "text"].contains($0.lowercased()) ? $0.lowercased() : nil }) {
            "must be auto, journald or text"
        }
        drainPeriod = try values.duration("drain.period", default: "10s", minimum: .zero)
        self.sse.drainPeriod = drainPeriod
        metrics = try values.value("metrics.listen", default: "127.0.0.1:9464", { text -> MetricsServer.Configuration?? in
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            // A YAML file may hand over `off` as the boolean false.
            if trimmed.isEmpty || ["off", "false"].contains(trimmed.lowercased()) { return .some(nil) }
            guard let address = ValueParsers.hostPort(trimmed) else { return .none }
            return .some(MetricsServer.Configuration(host: address.host, port: address.port))
        }) { "must be HOST:PORT, [IPv6]:PORT, :PORT, or off" }
        cluster = try Self.cluster(values, listen: listen, environment: values.environment)
    }

    private static func rateLimit(_ values: ValueReader) throws -> TokenBuckets.Configuration? {
        let rate = try values.value("events.rate-limit-per-client", default: "0", { Double($0).flatMap { $0 >= 0 && $0.isFinite ? $0 : nil } }) {
            "must be a number of events per second, 0 (unlimited) or more"
        }
        let burst = try values.value("events.rate-limit-burst", default: "<rate>", { $0 == "<rate>" ? max(1, rate) : Double($0).flatMap { $0 >= 1 && $0.isFinite ? $0 : nil } }) {
            "must be a number of events, 1 or more"
        }
        return rate > 0 ? TokenBuckets.Configuration(rate: rate, burst: burst) : nil
    }

    private static func cluster(_ values: ValueReader, listen: (host: String, port: Int), environment: [String: String]) throws -> Cluster? {
        let redisURL = values.raw("redis.url") ?? ""
        let sentinels = values.raw("redis.sentinels") ?? ""
        let amqpURL = values.raw("amqp.url") ?? ""
        if redisURL.isEmpty, sentinels.isEmpty, amqpURL.isEmpty { return nil }
        guard !(redisURL.isEmpty && sentinels.isEmpty) else {
            throw ConfigurationError(key: "redis.url", problem: "cluster mode needs Redis too (amqp.url is set)")
        }
        guard !amqpURL.isEmpty else {
            throw ConfigurationError(key: "amqp.url", problem: "cluster mode needs RabbitMQ too (Redis is set)")
        }
        let prefix = values.raw("redis.key-prefix") ?? "sse-relay:"
        var redis: RedisConfiguration
        do {
            redis = try RedisConfiguration(url: redisURL.isEmpty ? "redis://localhost" : redisURL, keyPrefix: prefix)
            if !sentinels.isEmpty {
                let master = values.raw("redis.master-name") ?? ""
                guard !master.isEmpty else {
                    throw ConfigurationError(key: "redis.master-name", problem: "is required with redis.sentinels")
                }
                redis.endpoint = .sentinel(addresses: try RedisConfiguration.sentinelAddresses(sentinels), masterName: master)
            }
        } catch let error as RedisError {
            throw ConfigurationError(key: sentinels.isEmpty ? "redis.url" : "redis.sentinels", problem: "\(error)")
        }
        if let file = values.raw("redis.password-file"), !file.isEmpty {
            redis.usePassword(try secret(from: file, key: "redis.password-file", environment: environment))
        }
        let urls = amqpURL.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for url in urls where !(url.hasPrefix("amqp://") || url.hasPrefix("amqps://")) {
            throw ConfigurationError(key: "amqp.url", problem: "each URL must start with amqp:// (got \(url.prefix(12))…)")
        }
        var amqpPassword: String?
        if let file = values.raw("amqp.password-file"), !file.isEmpty {
            amqpPassword = try secret(from: file, key: "amqp.password-file", environment: environment)
        }
        let advertise = values.raw("cluster.advertise").flatMap { $0.isEmpty ? nil : $0 }
            ?? "\(listen.host == "0.0.0.0" ? hostName() : listen.host):\(listen.port)"
        return Cluster(
            redis: redis, amqpURLs: urls, amqpPassword: amqpPassword,
            amqpExchange: values.raw("amqp.exchange").flatMap { $0.isEmpty ? nil : $0 } ?? "sse-relay",
            advertise: advertise,
            heartbeat: try values.duration("cluster.heartbeat", default: "5s", minimum: .milliseconds(100)),
            ttl: try values.duration("cluster.ttl", default: "15s", minimum: .milliseconds(300)),
            startupTimeout: try values.duration("cluster.startup-timeout", default: "30s", minimum: .milliseconds(100))
        )
    }

    /// Reads a secret from a file (systemd's `LoadCredential=` puts them under
    /// `$CREDENTIALS_DIRECTORY`); the value is never logged.
    private static func secret(from path: String, key: String, environment: [String: String]) throws -> String {
        var resolved = path
        if !path.hasPrefix("/"), let directory = environment["CREDENTIALS_DIRECTORY"] {
            resolved = directory + "/" + path
        }
        guard let data = FileManager.default.contents(atPath: resolved), let text = String(data: data, encoding: .utf8) else {
            throw ConfigurationError(key: key, problem: "cannot read \(resolved)")
        }
        return text.trimmingCharacters(in: .newlines)
    }

    static func hostName() -> String {
        let name = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "node"
        return ClientID(name) != nil ? name : "node"
    }
}

/// Reads raw values whatever type the provider stored (a YAML or environment string, a JSON
/// number or boolean) and parses them with one syntax, so every source accepts the same
/// text and every error names its key.
struct ValueReader {
    let reader: ConfigReader
    let environment: [String: String]

    func raw(_ key: String) -> String? {
        let configKey = ConfigKey(key)
        if let value = reader.string(forKey: configKey) { return value }
        if let value = reader.int(forKey: configKey) { return String(value) }
        if let value = reader.double(forKey: configKey) { return String(value) }
        if let value = reader.bool(forKey: configKey) { return String(value) }
        return nil
    }

    func value<T>(_ key: String, default defaultValue: String, _ parse: (String) -> T?, problem: () -> String) throws -> T {
        let text = raw(key) ?? defaultValue
        guard let value = parse(text) else {
            throw ConfigurationError(key: key, problem: "\(JSONText.quoted(text)) \(problem())")
        }
        return value
    }

    func duration(_ key: String, default defaultValue: String, minimum: Duration) throws -> Duration {
        let value = try value(key, default: defaultValue, ValueParsers.duration) { "is not a duration (examples: 500ms, 15s, 5m, 1h)" }
        guard value >= minimum else {
            throw ConfigurationError(key: key, problem: "must be at least \(minimum)")
        }
        return value
    }

    func size(_ key: String, default defaultValue: String, minimum: Int) throws -> Int {
        let value = try value(key, default: defaultValue, ValueParsers.size) { "is not a size (examples: 65536, 64KiB, 16MiB)" }
        guard value >= minimum else {
            throw ConfigurationError(key: key, problem: "must be at least \(minimum) bytes")
        }
        return value
    }
}
