import RelayCore

extension PublishServer {
    public struct Configuration: Sendable, Equatable {
        /// The Unix socket local applications publish to.
        public var socketPath: String
        /// Permission bits of the socket file (who may publish).
        public var socketMode: UInt32
        /// Group the socket file is given (`nil`: the relay's own group), so that members of
        /// that group can connect with mode 0660.
        public var socketGroup: UInt32?
        /// The largest event (data plus name) accepted, in bytes.
        public var maxEventSize: Int
        /// The largest request body accepted (mostly for bulk NDJSON), in bytes.
        public var maxBodySize: Int
        /// The most NDJSON lines (events) one bulk request may carry.
        public var maxBatchEvents: Int
        /// Who may publish once connected; checked against the peer's credentials.
        public var access: PublisherAccess
        /// Per-client-id publish rate; `nil` is unlimited.
        public var rateLimit: TokenBuckets.Configuration?
        /// What happens to events over `rateLimit`.
        public var rateLimitAction: PublishRateLimiter.Action = .drop
        /// How long a request may take to arrive completely once it has begun: slow or stuck
        /// writers are disconnected.
        public var requestTimeout: Duration
        /// How long a connection may stay silent before its first request and between
        /// requests. Publishers' connection pools should drop idle connections sooner.
        public var idleTimeout: Duration

        public init(
            socketPath: String, socketMode: UInt32 = 0o660, socketGroup: UInt32? = nil, maxEventSize: Int = 64 << 10,
            maxBodySize: Int = 16 << 20, maxBatchEvents: Int = 10_000, access: PublisherAccess = PublisherAccess(),
            rateLimit: TokenBuckets.Configuration? = nil, rateLimitAction: PublishRateLimiter.Action = .drop,
            requestTimeout: Duration = .seconds(10), idleTimeout: Duration = .seconds(75)
        ) {
            self.rateLimitAction = rateLimitAction
            self.socketPath = socketPath
            self.socketMode = socketMode
            self.socketGroup = socketGroup
            self.maxEventSize = maxEventSize
            self.maxBodySize = maxBodySize
            self.maxBatchEvents = maxBatchEvents
            self.access = access
            self.rateLimit = rateLimit
            self.requestTimeout = requestTimeout
            self.idleTimeout = idleTimeout
        }
    }
}
