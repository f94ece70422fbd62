import RelayCore
import CRabbitMQ
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Owns one rabbitmq-c connection (`amqp_connection_state_t`, its socket included) and the
/// single channel the adapter uses on it; frees both in `deinit`.
///
/// - Important: not thread-safe, and rabbitmq-c is not either. A worker thread creates it,
///   uses it and drops it; it never leaves that thread.
final class RabbitMQConnection {
    /// One channel is enough: each connection does one job (publish or consume), and
    /// publisher-confirm tags are per channel anyway.
    static let channel: amqp_channel_t = 1

    let url: AMQPURL
    private let state: amqp_connection_state_t
    private var loggedIn = false

    init(url: AMQPURL) throws(AMQPError) {
        guard let state = amqp_new_connection() else {
            throw AMQPError(.system, "rabbitmq-c could not allocate a connection")
        }
        self.url = url
        self.state = state
    }

    deinit {
        amqp_destroy_connection(state)
    }

    // MARK: Connecting

    /// TCP connect, AMQP handshake and login, channel open; each step bounded by `timeout`.
    /// `name` is what the broker's tools show for the connection.
    func open(name: String, heartbeat: Duration, timeout: Duration) throws(AMQPError) {
        guard let socket = amqp_tcp_socket_new(state) else {
            throw AMQPError(.system, "rabbitmq-c could not allocate a socket")
        }
        var limit = timeval(timeout)
        let opened = amqp_socket_open_noblock(socket, url.host, Int32(url.port), &limit)
        guard opened == AMQP_STATUS_OK.rawValue else {
            throw AMQPError(status: opened, .connectFailed, context: "cannot connect to \(url)")
        }
        _ = amqp_set_handshake_timeout(state, &limit)
        let login = sse_relay_amqp_login_plain(
            state, url.vhost, 0, 131_072, Int32(heartbeat.milliseconds / 1000), url.user, url.password, name)
        guard login.reply_type == AMQP_RESPONSE_NORMAL else {
            throw AMQPError(reply: login, .loginFailed, context: "cannot log in to \(url) as '\(url.user)'")
        }
        loggedIn = true
        // RPCs (declare, qos, close) must not hang on a broker that stopped answering:
        // rabbitmq-c closes the connection when one times out, and the worker reconnects.
        _ = amqp_set_rpc_timeout(state, &limit)
        amqp_channel_open(state, Self.channel)
        try checkRPC("channel.open")
    }

    /// Best-effort polite close (channel, then connection), bounded by the RPC timeout.
    /// Skipping it would only make the broker log an "unexpectedly closed" warning.
    func close() {
        guard loggedIn else { return }
        loggedIn = false
        _ = amqp_channel_close(state, Self.channel, AMQP_REPLY_SUCCESS)
        _ = amqp_connection_close(state, AMQP_REPLY_SUCCESS)
    }

    /// The descriptor to poll(2) for incoming frames.
    var socketDescriptor: Int32 { amqp_get_sockfd(state) }

    /// Frames rabbitmq-c already read off the socket: poll(2) would not report them.
    var hasBufferedInput: Bool { amqp_frames_enqueued(state) != 0 || amqp_data_in_buffer(state) != 0 }

    /// Returns decoded frames' memory to rabbitmq-c's pools once nothing refers to them;
    /// without it a long-lived connection keeps every frame it ever read.
    func releaseBuffers() {
        amqp_maybe_release_buffers(state)
    }

    // MARK: Topology

    func declareExchange(_ name: String) throws(AMQPError) {
        withAMQPBytes([name, "direct"]) { bytes in
            // Durable: a broker restart must not leave forwarders publishing into a void.
            _ = amqp_exchange_declare(state, Self.channel, bytes[0], bytes[1], 0, 1, 0, 0, amqp_empty_table)
        }
        try checkRPC("exchange.declare '\(name)'")
    }

    /// Declares `name` non-durable, not exclusive, not auto-delete, expiring after
    /// `expires` without consumers, dropping messages older than `messageTTL`.
    func declareQueue(_ name: String, expires: Duration, messageTTL: Duration) throws(AMQPError) {
        withAMQPBytes([name, "x-expires", "x-message-ttl"]) { bytes in
            var entries = [
                amqp_table_entry_t(key: bytes[1], value: .int64(expires.milliseconds)),
                amqp_table_entry_t(key: bytes[2], value: .int64(messageTTL.milliseconds)),
            ]
            entries.withUnsafeMutableBufferPointer { entries in
                let arguments = amqp_table_t(num_entries: Int32(entries.count), entries: entries.baseAddress)
                _ = amqp_queue_declare(state, Self.channel, bytes[0], 0, 0, 0, 0, arguments)
            }
        }
        try checkRPC("queue.declare '\(name)'")
    }

    func bindQueue(_ queue: String, exchange: String, routingKey: String) throws(AMQPError) {
        withAMQPBytes([queue, exchange, routingKey]) { bytes in
            _ = amqp_queue_bind(state, Self.channel, bytes[0], bytes[1], bytes[2], amqp_empty_table)
        }
        try checkRPC("queue.bind '\(queue)' to '\(exchange)' as '\(routingKey)'")
    }

    // MARK: Publishing

    /// Puts the channel in publisher-confirm mode: from now on the broker acks or nacks
    /// every publish, numbered 1, 2, 3... in publish order.
    func selectConfirms() throws(AMQPError) {
        _ = amqp_confirm_select(state, Self.channel)
        try checkRPC("confirm.select")
    }

    struct Message {
        var exchange: String
        var routingKey: String
        var contentType: String
        var messageID: String
        var appID: String
        /// Comes back in a `basic.return`, which carries no delivery tag.
        var correlationID: String
        var body: ByteBuffer
    }

    /// A mandatory, transient publish. Transient because node queues are not durable and
    /// forwarded events are worthless after a broker restart (clients replay instead).
    func publish(_ message: Message) throws(AMQPError) {
        let status = withAMQPBytes([
            message.exchange, message.routingKey, message.contentType, message.messageID, message.appID, message.correlationID,
        ]) { bytes in
            var properties = amqp_basic_properties_t()
            properties._flags = amqp_flags_t(
                AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG
                    | AMQP_BASIC_APP_ID_FLAG | AMQP_BASIC_CORRELATION_ID_FLAG)
            properties.content_type = bytes[2]
            properties.delivery_mode = 1
            properties.message_id = bytes[3]
            properties.app_id = bytes[4]
            properties.correlation_id = bytes[5]
            return message.body.withUnsafeReadableBytes { body in
                let content = amqp_bytes_t(len: body.count, bytes: UnsafeMutableRawPointer(mutating: body.baseAddress))
                return amqp_basic_publish(state, Self.channel, bytes[0], bytes[1], 1, 0, &properties, content)
            }
        }
        guard status == AMQP_STATUS_OK.rawValue else {
            throw AMQPError(status: status, context: "basic.publish to \(url)")
        }
    }

    // MARK: Consuming

    func setPrefetch(_ count: Int) throws(AMQPError) {
        _ = amqp_basic_qos(state, Self.channel, 0, UInt16(count), 0)
        try checkRPC("basic.qos \(count)")
    }

    /// Starts a manual-ack consumer. Not exclusive: after a network split the broker may
    /// still hold this node's previous, half-dead connection, and an exclusive consume would
    /// be refused until its heartbeat timeout.
    func consume(queue: String) throws(AMQPError) {
        withAMQPBytes([queue]) { bytes in
            _ = amqp_basic_consume(state, Self.channel, bytes[0], amqp_empty_bytes, 0, 0, 0, amqp_empty_table)
        }
        try checkRPC("basic.consume '\(queue)'")
    }

    func acknowledge(upTo tag: UInt64, multiple: Bool) throws(AMQPError) {
        let status = amqp_basic_ack(state, Self.channel, tag, multiple ? 1 : 0)
        guard status == AMQP_STATUS_OK.rawValue else {
            throw AMQPError(status: status, context: "basic.ack to \(url)")
        }
    }

    // MARK: Reading frames

    enum Frame {
        case ack(tag: UInt64, multiple: Bool)
        case nack(tag: UInt64, multiple: Bool)
        /// An unroutable mandatory message coming back; its content follows (``readContent()``).
        case returned(replyCode: UInt16, replyText: String)
        /// A message for our consumer; its content follows (``readContent()``).
        case deliver(tag: UInt64)
        /// The broker cancelled our consumer (queue deleted): the connection is useless now.
        case consumerCancelled
        /// The broker closed the channel or the connection (close-ok already sent).
        case closed(AMQPError)
        /// The broker stopped reading what this connection publishes (a memory or disk
        /// alarm), until ``unblocked``.
        case blocked(reason: String)
        case unblocked
        /// Anything else; named for a debug log.
        case other(String)
    }

    /// The next frame if one is already here, without blocking; nil when there is none.
    /// Also sends a heartbeat when one is due, and detects a broker that stopped sending them.
    func nextFrame() throws(AMQPError) -> Frame? {
        var frame = amqp_frame_t()
        var immediately = timeval(tv_sec: 0, tv_usec: 0)
        let status = amqp_simple_wait_frame_noblock(state, &frame, &immediately)
        if status == AMQP_STATUS_TIMEOUT.rawValue { return nil }
        guard status == AMQP_STATUS_OK.rawValue else {
            throw AMQPError(status: status, context: "reading from \(url)")
        }
        guard frame.frame_type == UInt8(AMQP_FRAME_METHOD) else {
            return .other("frame type \(frame.frame_type) on channel \(frame.channel)")
        }
        let method = frame.payload.method
        switch method.id {
        case AMQP_BASIC_ACK_METHOD:
            let ack = method.decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
            return .ack(tag: ack.delivery_tag, multiple: ack.multiple != 0)
        case AMQP_BASIC_NACK_METHOD:
            let nack = method.decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
            return .nack(tag: nack.delivery_tag, multiple: nack.multiple != 0)
        case AMQP_BASIC_RETURN_METHOD:
            let returned = method.decoded.assumingMemoryBound(to: amqp_basic_return_t.self).pointee
            return .returned(replyCode: returned.reply_code, replyText: String(amqpBytes: returned.reply_text))
        case AMQP_BASIC_DELIVER_METHOD:
            let deliver = method.decoded.assumingMemoryBound(to: amqp_basic_deliver_t.self).pointee
            return .deliver(tag: deliver.delivery_tag)
        case AMQP_BASIC_CANCEL_METHOD:
            return .consumerCancelled
        case AMQP_CHANNEL_CLOSE_METHOD:
            let error = AMQPError(.brokerClosed, "\(url): \(AMQPError.describe(method: method))")
            var closeOK = amqp_channel_close_ok_t()
            _ = amqp_send_method(state, frame.channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &closeOK)
            return .closed(error)
        case AMQP_CONNECTION_CLOSE_METHOD:
            let error = AMQPError(.brokerClosed, "\(url): \(AMQPError.describe(method: method))")
            var closeOK = amqp_connection_close_ok_t()
            _ = amqp_send_method(state, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &closeOK)
            loggedIn = false
            return .closed(error)
        case AMQP_CONNECTION_BLOCKED_METHOD:
            let blocked = method.decoded.assumingMemoryBound(to: amqp_connection_blocked_t.self).pointee
            return .blocked(reason: String(amqpBytes: blocked.reason))
        case AMQP_CONNECTION_UNBLOCKED_METHOD:
            return .unblocked
        default:
            return .other(String(cString: amqp_method_name(method.id)))
        }
    }

    struct Content {
        var correlationID: String?
        var messageID: String?
        var body: ByteBuffer
    }

    /// The header and body frames that follow a `basic.deliver` or `basic.return`.
    /// They are already on their way, so this blocks only briefly (heartbeat-bounded).
    func readContent() throws(AMQPError) -> Content {
        var message = amqp_message_t()
        let reply = amqp_read_message(state, Self.channel, &message, 0)
        // On failure rabbitmq-c has already freed what it allocated.
        guard reply.reply_type == AMQP_RESPONSE_NORMAL else {
            throw AMQPError(reply: reply, context: "reading a message from \(url)")
        }
        defer { amqp_destroy_message(&message) }
        let properties = message.properties
        func property(_ flag: Int32, _ value: amqp_bytes_t) -> String? {
            properties._flags & amqp_flags_t(flag) != 0 ? String(amqpBytes: value) : nil
        }
        var body = ByteBuffer()
        if let start = message.body.bytes, message.body.len > 0 {
            body = ByteBuffer(bytes: UnsafeRawBufferPointer(start: start, count: message.body.len))
        }
        return Content(
            correlationID: property(AMQP_BASIC_CORRELATION_ID_FLAG, properties.correlation_id),
            messageID: property(AMQP_BASIC_MESSAGE_ID_FLAG, properties.message_id),
            body: body)
    }

    // MARK: Helpers

    private func checkRPC(_ what: String) throws(AMQPError) {
        let reply = amqp_get_rpc_reply(state)
        guard reply.reply_type == AMQP_RESPONSE_NORMAL else {
            throw AMQPError(reply: reply, context: "\(what) on \(url)")
        }
    }
}

/// Hands rabbitmq-c views of Swift strings that stay valid for the whole call.
///
/// `amqp_cstring_bytes` would keep a pointer to a temporary C string that Swift frees right
/// after the call that made it; one buffer holding all the strings avoids that and costs a
/// single allocation per publish.
private func withAMQPBytes<Result>(_ strings: [String], _ body: ([amqp_bytes_t]) -> Result) -> Result {
    var storage: [UInt8] = []
    storage.reserveCapacity(strings.reduce(1) { $0 + $1.utf8.count })
    var ranges: [Range<Int>] = []
    for string in strings {
        let start = storage.count
        storage.append(contentsOf: string.utf8)
        ranges.append(start..<storage.count)
    }
    storage.append(0)  // never empty, so the base address exists
    return storage.withUnsafeMutableBytes { buffer in
        body(ranges.map { amqp_bytes_t(len: $0.count, bytes: buffer.baseAddress! + $0.lowerBound) })
    }
}

extension amqp_field_value_t {
    /// A signed 64-bit table value (`l`), which RabbitMQ accepts for `x-expires` and
    /// `x-message-ttl` alike.
    fileprivate static func int64(_ value: Int64) -> amqp_field_value_t {
        var field = amqp_field_value_t()
        field.kind = UInt8(AMQP_FIELD_KIND_I64.rawValue)
        field.value.i64 = value
        return field
    }
}

extension timeval {
    fileprivate init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self.init(tv_sec: .init(seconds), tv_usec: .init(attoseconds / 1_000_000_000_000))
    }
}
