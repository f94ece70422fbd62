/// Why the RabbitMQ adapter could not do something: a stable ``code`` to branch on, and a
/// message with the human context (the URL, the broker's or rabbitmq-c's own words).
///
/// Messages never contain passwords: URLs in them are masked.
public struct AMQPError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Equatable {
        /// A broker URL that does not parse.
        case invalidURL = "invalid_url"
        /// A URL scheme the adapter does not speak (`amqps`: this build has no TLS).
        case unsupportedScheme = "unsupported_scheme"
        /// A configuration value out of range.
        case invalidConfiguration = "invalid_configuration"
        /// The TCP connection could not be opened.
        case connectFailed = "connect_failed"
        /// The broker refused the credentials or the vhost.
        case loginFailed = "login_failed"
        /// The broker closed the channel or connection (its reply code and text are in the message).
        case brokerClosed = "broker_closed"
        /// rabbitmq-c reported an error (socket, heartbeat timeout, bad frame...).
        case library = "library"
        /// The broker sent something the adapter did not expect at that point.
        case unexpectedFrame = "unexpected_frame"
        /// The operating system refused a resource (thread, pipe, memory).
        case system = "system"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
