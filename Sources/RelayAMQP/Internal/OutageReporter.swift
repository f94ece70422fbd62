import RelayCore
import Logging

/// Decides which connection events deserve a log line, so an hour-long outage logs two
/// warnings and a notice instead of one line per reconnect attempt.
///
/// Lines carry the masked broker URL (`amqp.url`) and the worker's role, never a password.
struct OutageReporter {
    private let logger: Logger
    private let role: String
    private var connectedOnce = false
    private var outageStart: ContinuousClock.Instant?
    private var failedRounds = 0

    init(logger: Logger, role: String) {
        self.logger = logger
        self.role = role
    }

    mutating func connected(to url: AMQPURL) {
        var metadata: Logger.Metadata = ["amqp.url": "\(url)", "amqp.role": "\(role)"]
        if let outageStart {
            metadata["amqp.outage_ms"] = "\((ContinuousClock.now - outageStart).milliseconds)"
            logger.notice("RabbitMQ connection restored", metadata: metadata)
        } else {
            logger.info("connected to RabbitMQ", metadata: metadata)
        }
        connectedOnce = true
        outageStart = nil
        failedRounds = 0
    }

    mutating func lost(_ url: AMQPURL, error: AMQPError) {
        outageStart = .now
        logger.warning(
            "RabbitMQ connection lost, reconnecting",
            metadata: ["amqp.url": "\(url)", "amqp.role": "\(role)", "error": "\(error)"])
    }

    mutating func roundFailed(_ failures: [AMQPError], retryIn delay: Duration) {
        if outageStart == nil { outageStart = .now }
        failedRounds += 1
        let metadata: Logger.Metadata = [
            "amqp.role": "\(role)",
            "amqp.retry_ms": "\(delay.milliseconds)",
            "amqp.failed_rounds": "\(failedRounds)",
            "error": .array(failures.map { "\($0)" }),
        ]
        // The first failure, then a reminder every 60 rounds (about 5 min at the maximum delay).
        if failedRounds == 1 || failedRounds % 60 == 0 {
            logger.warning(connectedOnce ? "cannot reconnect to RabbitMQ" : "cannot connect to RabbitMQ", metadata: metadata)
        } else {
            logger.debug("RabbitMQ reconnect attempt failed", metadata: metadata)
        }
    }
}
