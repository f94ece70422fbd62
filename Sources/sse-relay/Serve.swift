import ArgumentParser
import Foundation
import Logging
import RelayApp
import RelaySystemd

/// Flags name configuration keys; each is optional so that, when absent, the environment
/// and then the configuration file decide (a default here would always win).
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the relay (the daemon).",
        discussion: """
            Configuration comes from --config FILE (JSON or YAML), then SSE_RELAY_* environment \
            variables, then these flags, each overriding the one before. Durations: 500ms, 15s, 5m, 1h. \
            Sizes: 65536, 64KiB, 16MiB.
            """
    )

    @Option(help: "Configuration file (.json, .yaml or .yml). Also SSE_RELAY_CONFIG.")
    var config: String?
    @Option(help: "Subscriber HTTP address, HOST:PORT (default 127.0.0.1:8080).")
    var listen: String?
    @Option(help: "Unix socket for the publish API (default /run/sse-relay/publish.sock).")
    var publishSocket: String?
    @Option(help: "Permission bits of the publish socket, octal (default 0660).")
    var socketMode: String?
    @Option(help: "Group of the publish socket, a name or gid (default: the relay's own group).")
    var socketGroup: String?
    @Option(help: "Users allowed to publish, names or uids, comma-separated (default: anyone who can open the socket).")
    var allowedUids: String?
    @Option(help: "Groups allowed to publish, names or gids, comma-separated (default: anyone who can open the socket).")
    var allowedGids: String?
    @Option(help: "Most events in one bulk publish request (default 10000).")
    var maxBatchEvents: String?
    @Option(help: "Events per second per client id from publishers; over it events are dropped (default 0: unlimited).")
    var rateLimitPerClient: String?
    @Option(help: "This node's id (default: the host name).")
    var nodeId: String?
    @Option(help: "Idle time before a keep-alive comment (default 15s).")
    var keepAlive: String?
    @Option(help: "Maximum stream lifetime before a clean close, jittered (default 1h).")
    var maxLifetime: String?
    @Option(help: "Events kept for replay per client and per topic (default 100).")
    var historySize: String?
    @Option(help: "How long events stay replayable (default 5m).")
    var historyAge: String?
    @Option(help: "Memory cap for all kept events (default 64MiB).")
    var historyMaxBytes: String?
    @Option(help: "Unsent bytes per stream before it is closed as a slow consumer (default 256KiB).")
    var bufferLimit: String?
    @Option(help: "Largest event accepted, data plus name (default 64KiB).")
    var maxEventSize: String?
    @Option(help: "Largest publish request body (default 16MiB).")
    var maxBodySize: String?
    @Option(help: "The retry: hint at the start of each stream (default 2000ms).")
    var retry: String?
    @Option(help: "Origins allowed to read streams: exact, https://*.example.com or *, comma-separated (default: none).")
    var allowOrigin: String?
    @Option(help: "Subscriber auth: none, jwt or delegate (default none: loopback listeners only, unless --allow-anonymous true).")
    var authMode: String?
    @Option(help: "With --auth-mode none, allow a non-loopback --listen (true/false, default false).")
    var allowAnonymous: String?
    @Option(help: "JWT verification keys: [kid=]ALG:path[,...] (HS256 secret files, RS256/ES256/EdDSA PEM public keys).")
    var jwtKeys: String?
    @Option(help: "Delegated auth: http://127.0.0.1:PORT/path or unix:/path/to.sock:/path.")
    var authDelegateUrl: String?
    @Option(help: "Proxies (addresses or CIDRs) whose X-Forwarded-For is believed, comma-separated.")
    var trustedProxies: String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (default info).")
    var logLevel: String?
    @Option(help: "Log format: auto (journald when stderr is the journal), journald or text (default auto).")
    var logFormat: String?
    @Option(help: "On SIGTERM, close streams spread over this period (default 10s).")
    var drainPeriod: String?
    @Option(help: "Metrics, health and status page address, HOST:PORT, or off (default 127.0.0.1:9464).")
    var metricsListen: String?
    @Option(help: "Cluster mode: redis://[user[:password]@]host[:port][/db] (needs --amqp too).")
    var redis: String?
    @Option(help: "Cluster mode through Redis Sentinel: host:port[,host:port...] (with --redis-master-name).")
    var redisSentinels: String?
    @Option(help: "The Sentinel master name.")
    var redisMasterName: String?
    @Option(help: "Prefix of every Redis key (default sse-relay:).")
    var redisKeyPrefix: String?
    @Option(help: "Cluster mode: amqp://user:password@host:port/vhost, several separated by commas (needs --redis too).")
    var amqp: String?
    @Option(help: "host:port of this node's subscriber port as other tools see it (default: --listen).")
    var advertise: String?
    @Option(help: "Registry heartbeat interval (default 5s).")
    var heartbeat: String?
    @Option(help: "Registry entry lifetime without heartbeat (default 15s).")
    var registryTtl: String?
    @Option(help: "How long start-up waits for Redis and RabbitMQ (default 30s).")
    var startupTimeout: String?

    func run() async throws {
        let flags: [String: String?] = [
            "listen": listen, "publish.socket": publishSocket, "publish.socket-mode": socketMode,
            "publish.socket-group": socketGroup, "publish.allowed-uids": allowedUids, "publish.allowed-gids": allowedGids,
            "publish.max-batch-events": maxBatchEvents, "events.rate-limit-per-client": rateLimitPerClient,
            "node-id": nodeId, "stream.keep-alive": keepAlive, "stream.max-lifetime": maxLifetime,
            "history.size": historySize, "history.age": historyAge, "history.max-bytes": historyMaxBytes,
            "stream.buffer-limit": bufferLimit, "events.max-size": maxEventSize,
            "publish.max-body-size": maxBodySize, "stream.retry": retry,
            "cors.allow-origin": allowOrigin, "auth.mode": authMode, "auth.allow-anonymous": allowAnonymous,
            "auth.jwt.keys": jwtKeys, "auth.delegate.url": authDelegateUrl, "proxy.trusted": trustedProxies,
            "log.level": logLevel, "log.format": logFormat, "drain.period": drainPeriod,
            "metrics.listen": metricsListen,
            "redis.url": redis, "redis.sentinels": redisSentinels, "redis.master-name": redisMasterName,
            "redis.key-prefix": redisKeyPrefix, "amqp.url": amqp, "cluster.advertise": advertise,
            "cluster.heartbeat": heartbeat, "cluster.ttl": registryTtl, "cluster.startup-timeout": startupTimeout,
        ]
        let environment = ProcessInfo.processInfo.environment
        let overrides = flags.compactMapValues { $0 }
        let file = config ?? environment["SSE_RELAY_CONFIG"]
        let configuration: RelayConfiguration
        do {
            configuration = try await RelayConfiguration.load(overrides: overrides, environment: environment, file: file)
        } catch {
            throw CLIError("\(error)")
        }

        let level = LogLevelSource(configuration.logLevel)
        let format = LogFormat.resolve(LogFormat(rawValue: configuration.logFormat) ?? .auto)
        LoggingSystem.bootstrap { label in
            switch format {
            case .journald:
                JournaldLogHandler(label: label, level: level)
            case .text, .auto:
                DynamicLevelLogHandler(StreamLogHandler.standardError(label: label), level: level)
            }
        }
        let logger = Logger(label: "sse-relay")

        do {
            let reload: @Sendable () async throws -> RelayConfiguration = {
                try await RelayConfiguration.load(overrides: overrides, environment: environment, file: file)
            }
            try await RelayApplication(configuration: configuration, logger: logger, logLevel: level, reloadConfiguration: reload).run { address in
                guard isatty(STDOUT_FILENO) == 1 else { return }
                let port = address.port ?? 0
                let socket = configuration.publish.socketPath
                FileHandle.standardOutput.write(Data("""

                    sse-relay is running (\(configuration.cluster == nil ? "standalone" : "cluster node \(configuration.nodeID)")). Try, in another terminal:
                      subscribe:  curl -N http://127.0.0.1:\(port)/events/42
                      publish:    sse-relay publish --socket \(socket) --client 42 'hello'
                    Stop with Ctrl-C.

                    """.utf8))
            }
        } catch {
            throw CLIError("cannot start: \(error)")
        }
    }
}

/// One clear line on stderr and a non-zero exit, instead of a stack of error types.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    var exitCode: Int32

    init(_ description: String, exitCode: Int32 = 1) {
        self.description = description
        self.exitCode = exitCode
    }
}
