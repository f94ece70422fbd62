/// Where the RabbitMQ adapter connects and how it names and sizes things there.
///
/// Shared by ``AMQPForwarder`` and ``AMQPConsumer`` of one node, so both agree on the
/// exchange and queue names.
public struct AMQPConfiguration: Sendable {
    /// One or more `amqp://user:pass@host:port/vhost` URLs: the nodes of one RabbitMQ cluster.
    /// Every (re)connect tries them in order and keeps the first that works.
    public var urls: [String]
    /// Replaces the password of every URL (e.g. read from a credentials file), so the secret
    /// need not sit in a URL on a command line or in a configuration file.
    public var password: String?
    /// The durable `direct` exchange every node publishes to.
    public var exchange: String
    /// Node X consumes from the queue `<queuePrefix>X`.
    public var queuePrefix: String
    /// This node's id: names its queue and is sent as the `app_id` of what it forwards.
    public var nodeID: String
    /// A node's queue is deleted after it has had no consumer for this long (`x-expires`),
    /// so a node that is gone for good does not leave a queue filling up behind.
    public var queueExpires: Duration
    /// Messages older than this are dropped from a node's queue (`x-message-ttl`): events
    /// delivered minutes late are worse than events missing, which clients replay anyway.
    public var messageTTL: Duration
    /// How many forwarded messages a consumer holds unacknowledged: the bound that turns a
    /// slow handler into backpressure on the broker instead of memory growth here.
    public var prefetch: Int
    /// AMQP heartbeat, whole seconds; zero disables it (dead connections then go unnoticed
    /// until the next write).
    public var heartbeat: Duration
    /// How long a forward waits for the broker's publisher confirm before it reports
    /// `.unconfirmed`.
    public var confirmTimeout: Duration
    /// Upper bound for opening the TCP connection and for the login handshake, per URL.
    public var connectTimeout: Duration
    /// The first delay between reconnect rounds; it doubles after each failed round.
    public var reconnectDelay: Duration
    /// The longest delay between reconnect rounds.
    public var maxReconnectDelay: Duration

    public init(
        urls: [String],
        nodeID: String,
        password: String? = nil,
        exchange: String = "sse-relay",
        queuePrefix: String = "sse-relay.node."
    ) {
        self.urls = urls
        self.nodeID = nodeID
        self.password = password
        self.exchange = exchange
        self.queuePrefix = queuePrefix
        self.queueExpires = .seconds(600)
        self.messageTTL = .seconds(60)
        self.prefetch = 32
        self.heartbeat = .seconds(10)
        self.confirmTimeout = .seconds(5)
        self.connectTimeout = .seconds(5)
        self.reconnectDelay = .milliseconds(100)
        self.maxReconnectDelay = .seconds(5)
    }
}

extension AMQPConfiguration {
    /// The broker URLs in order of preference, with ``password`` applied.
    public func brokerURLs() throws(AMQPError) -> [AMQPURL] {
        guard !urls.isEmpty else { throw AMQPError(.invalidConfiguration, "no RabbitMQ URL configured") }
        var parsed: [AMQPURL] = []
        for text in urls {
            var url = try AMQPURL(parsing: text)
            if let password { url.password = password }
            parsed.append(url)
        }
        return parsed
    }

    /// Checks everything the broker would otherwise reject later, one reconnect at a time.
    public func validate() throws(AMQPError) {
        func invalid(_ why: String) -> AMQPError { AMQPError(.invalidConfiguration, why) }
        _ = try brokerURLs()
        let topology = AMQPTopology(self)
        guard !nodeID.isEmpty else { throw invalid("the node id is empty") }
        // AMQP short strings (names, routing keys) hold at most 255 bytes.
        guard topology.queue(for: nodeID).utf8.count <= 255, topology.routingKey(for: nodeID).utf8.count <= 255 else {
            throw invalid("queue prefix plus node id exceed 255 bytes")
        }
        guard !exchange.isEmpty, exchange.utf8.count <= 255 else { throw invalid("the exchange name must be 1-255 bytes") }
        guard !exchange.hasPrefix("amq.") else { throw invalid("exchange names starting with 'amq.' are reserved by RabbitMQ") }
        guard (1...65_535).contains(prefetch) else { throw invalid("prefetch must be 1-65535, got \(prefetch)") }
        guard queueExpires >= .seconds(1), queueExpires.milliseconds <= Int64(Int32.max) else {
            throw invalid("queueExpires must be 1 s to 24 days")
        }
        guard messageTTL >= .zero, messageTTL.milliseconds <= Int64(Int32.max) else {
            throw invalid("messageTTL must be 0 to 24 days")
        }
        guard heartbeat >= .zero, heartbeat <= .seconds(65_535), heartbeat.milliseconds % 1000 == 0 else {
            throw invalid("heartbeat must be whole seconds, 0-65535")
        }
        for (name, value) in [("confirmTimeout", confirmTimeout), ("connectTimeout", connectTimeout), ("reconnectDelay", reconnectDelay)] {
            guard value > .zero else { throw invalid("\(name) must be positive") }
        }
        guard maxReconnectDelay >= reconnectDelay else { throw invalid("maxReconnectDelay must not be below reconnectDelay") }
    }
}
