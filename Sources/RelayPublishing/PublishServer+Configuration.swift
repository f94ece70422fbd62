extension PublishServer {
    public struct Configuration: Sendable, Equatable {
        /// The Unix socket local applications publish to.
        public var socketPath: String
        /// Permission bits of the socket file (who may publish).
        public var socketMode: UInt32
        /// The largest event (data plus name) accepted, in bytes.
        public var maxEventSize: Int
        /// The largest request body accepted (mostly for bulk NDJSON), in bytes.
        public var maxBodySize: Int

        public init(socketPath: String, socketMode: UInt32 = 0o660, maxEventSize: Int = 64 << 10, maxBodySize: Int = 16 << 20) {
            self.socketPath = socketPath
            self.socketMode = socketMode
            self.maxEventSize = maxEventSize
            self.maxBodySize = maxBodySize
        }
    }
}
