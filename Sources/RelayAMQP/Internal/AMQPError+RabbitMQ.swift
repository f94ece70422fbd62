import CRabbitMQ

extension AMQPError {
    /// A rabbitmq-c status code (`AMQP_STATUS_*`), in the library's own words.
    init(status: Int32, _ code: Code = .library, context: String) {
        self.init(code, "\(context): \(String(cString: amqp_error_string2(status)))")
    }

    /// The outcome of an RPC: the library's message for local failures, the broker's reply
    /// code and text when it closed the channel or connection.
    init(reply: amqp_rpc_reply_t, _ code: Code = .brokerClosed, context: String) {
        switch reply.reply_type {
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            self.init(status: reply.library_error, .library, context: context)
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            self.init(code, "\(context): \(Self.describe(method: reply.reply))")
        default:
            self.init(.library, "\(context): no reply from rabbitmq-c")
        }
    }

    /// Puts the reply code and text of a close method into words, e.g.
    /// `channel closed by the broker: 404 NOT_FOUND - no exchange 'x' in vhost '/'`.
    static func describe(method: amqp_method_t) -> String {
        switch method.id {
        case AMQP_CONNECTION_CLOSE_METHOD:
            let close = method.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            return "connection closed by the broker: \(close.reply_code) \(String(amqpBytes: close.reply_text))"
        case AMQP_CHANNEL_CLOSE_METHOD:
            let close = method.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            return "channel closed by the broker: \(close.reply_code) \(String(amqpBytes: close.reply_text))"
        default:
            return "unexpected method \(String(cString: amqp_method_name(method.id)))"
        }
    }
}

extension String {
    /// Copies bytes that rabbitmq-c owns (they die with its frame pool).
    init(amqpBytes bytes: amqp_bytes_t) {
        guard let start = bytes.bytes, bytes.len > 0 else {
            self = ""
            return
        }
        self = String(decoding: UnsafeRawBufferPointer(start: start, count: bytes.len), as: UTF8.self)
    }
}
