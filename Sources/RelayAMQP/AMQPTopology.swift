/// The names both sides must agree on: one durable direct exchange, and per node a queue
/// bound to it under the routing key `node.<id>`.
struct AMQPTopology: Sendable {
    let exchange: String
    let queuePrefix: String
    let queueExpires: Duration
    let messageTTL: Duration

    init(_ configuration: AMQPConfiguration) {
        exchange = configuration.exchange
        queuePrefix = configuration.queuePrefix
        queueExpires = configuration.queueExpires
        messageTTL = configuration.messageTTL
    }

    func queue(for node: String) -> String { queuePrefix + node }

    func routingKey(for node: String) -> String { "node." + node }
}
