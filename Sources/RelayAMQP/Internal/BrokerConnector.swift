/// Opens a ready-to-use connection to the first broker of the cluster list that takes one.
///
/// In order, every round: the first URL is the preferred node (say, the one in this data
/// centre), the others are fallbacks; after an outage the preferred one is tried first again.
struct BrokerConnector: Sendable {
    let urls: [AMQPURL]
    /// Shown by the broker's tools, e.g. "sse-relay web-1 forwarder".
    let connectionName: String
    let heartbeat: Duration
    let timeout: Duration

    struct Round {
        var connection: RabbitMQConnection?
        /// Why each URL tried before the one that worked (or all of them) failed.
        var failures: [AMQPError] = []
    }

    /// - Parameters:
    ///   - shouldContinue: checked between URLs, so a shutdown does not wait for a whole round.
    ///   - prepare: declares the topology and sets up the channel; a failure there moves on
    ///     to the next URL like a refused connection does.
    func connect(shouldContinue: () -> Bool, prepare: (RabbitMQConnection) throws(AMQPError) -> Void) -> Round {
        var round = Round()
        for url in urls {
            guard shouldContinue() else { break }
            do {
                let connection = try RabbitMQConnection(url: url)
                try connection.open(name: connectionName, heartbeat: heartbeat, timeout: timeout)
                try prepare(connection)
                round.connection = connection
                return round
            } catch {
                round.failures.append(error)
            }
        }
        return round
    }
}
