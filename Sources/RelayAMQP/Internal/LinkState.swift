/// Where a worker's broker connection stands, as async callers see it.
enum LinkState: Sendable {
    /// Created, thread not started yet.
    case idle
    /// Between connections: the first attempt, or reconnecting with backoff.
    case connecting(lastError: String?)
    /// Topology declared, channel ready.
    case connected(AMQPURL)
    /// The thread has exited (or never will start); final.
    case stopped

    var url: AMQPURL? {
        if case .connected(let url) = self { url } else { nil }
    }

    /// Why a request cannot be sent right now, for `.unavailable`.
    func unavailableReason(role: String) -> String {
        switch self {
        case .idle: "the AMQP \(role) is not started"
        case .connecting(let lastError?): "not connected to RabbitMQ: \(lastError)"
        case .connecting(nil): "not connected to RabbitMQ yet"
        case .connected: "the AMQP \(role) is shutting down"
        case .stopped: "the AMQP \(role) is shut down"
        }
    }
}
