import RelayAuth
import RelayCore

extension SSEServer {
    public struct Configuration: Sendable, Equatable {
        public var host: String
        public var port: Int
        /// This node's id, reported with each connection.
        public var nodeID: String
        /// A comment is sent after this long without traffic, so proxies and browsers keep
        /// the stream open.
        public var keepAlive: Duration
        /// Streams are closed (cleanly, between events) after about this long, with up to
        /// 10% jitter so reconnects spread out; browsers resume by replay.
        public var maxLifetime: Duration
        /// Bytes a stream may have queued and unsent before it counts as a slow consumer
        /// and is closed.
        public var bufferLimit: Int
        /// The reconnect delay hint (`retry:`) at the start of every stream, in milliseconds.
        public var retryMilliseconds: Int
        /// Which browser origins may read streams (`Access-Control-Allow-Origin`).
        public var cors: CORSPolicy
        /// On shutdown, streams are closed spread over this period, each told to come back
        /// soon, so that reconnects do not stampede the other nodes.
        public var drainPeriod: Duration = .seconds(10)
        /// A request must arrive completely within this of the connect or of the previous
        /// answer, or the connection is closed: slowloris trickles and idle connections alike
        /// (checked by the sweep, so up to one sweep tick late).
        public var requestTimeout: Duration = .seconds(10)
        /// Streams per node and per client id.
        public var connectionLimits = ConnectionLedger.Limits()
        /// New connections per second per remote address.
        public var connectRate = ConnectRateLimiter.Configuration()
        /// Topics one stream may join; 0: no limit.
        public var maxTopics = 32
        /// Bytes of request line and headers a subscribe request may have (431 past it).
        public var maxHeaderSize = 16 << 10
        /// Proxies whose `X-Forwarded-For` names the client for limits and logs.
        public var trustedProxies = TrustedProxies()
        /// A cookie that may carry the subscriber token; `nil`: none.
        public var tokenCookie: String?

        public init(
            host: String = "127.0.0.1",
            port: Int = 8080,
            nodeID: String,
            keepAlive: Duration = .seconds(15),
            maxLifetime: Duration = .seconds(3600),
            bufferLimit: Int = 256 << 10,
            retryMilliseconds: Int = 2000,
            cors: CORSPolicy = CORSPolicy()
        ) {
            self.host = host
            self.port = port
            self.nodeID = nodeID
            self.keepAlive = keepAlive
            self.maxLifetime = maxLifetime
            self.bufferLimit = bufferLimit
            self.retryMilliseconds = retryMilliseconds
            self.cors = cors
        }
    }
}
