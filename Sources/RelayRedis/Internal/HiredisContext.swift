import CHiredis
import Foundation

/// Owns one hiredis connection. Blocking: used only by the ``RedisClient`` worker thread
/// that created it, never by an event loop or the shared concurrency pool.
final class HiredisContext {
    private let context: UnsafeMutablePointer<redisContext>

    init(host: String, port: Int, timeout: Duration) throws(RedisError) {
        let tv = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: Int(timeout.components.attoseconds / 1_000_000_000_000))
        guard let context = redisConnectWithTimeout(host, Int32(port), tv) else {
            throw .unavailable("cannot allocate a hiredis context")
        }
        if context.pointee.err != 0 {
            let message = Self.errorString(context)
            redisFree(context)
            throw .unavailable("\(host):\(port): \(message)")
        }
        // Reads and writes time out too, so a stalled server cannot hang the worker.
        redisSetTimeout(context, tv)
        redisEnableKeepAlive(context)
        self.context = context
    }

    deinit {
        redisFree(context)
    }

    /// Sends every command, then reads every reply: one round trip for the lot.
    func pipeline(_ commands: [RedisCommand]) throws(RedisError) -> [RedisValue] {
        for command in commands {
            let status = withArgv(command.arguments) { argc, argv, lengths in
                redisAppendCommandArgv(context, argc, argv, lengths)
            }
            if status != REDIS_OK { throw .connectionLost(Self.errorString(context)) }
        }
        var replies: [RedisValue] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(context, &raw) == REDIS_OK, let raw else {
                throw .connectionLost(Self.errorString(context))
            }
            let reply = raw.assumingMemoryBound(to: redisReply.self)
            replies.append(Self.value(of: reply))
            freeReplyObject(raw)
        }
        return replies
    }

    private static func value(of reply: UnsafeMutablePointer<redisReply>) -> RedisValue {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STRING:
            return .bulk(bytes(r.str, r.len))
        case REDIS_REPLY_STATUS:
            return .status(String(decoding: bytes(r.str, r.len), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            return .error(String(decoding: bytes(r.str, r.len), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            return .integer(Int64(r.integer))
        case REDIS_REPLY_ARRAY:
            var values: [RedisValue] = []
            values.reserveCapacity(r.elements)
            for index in 0..<r.elements {
                if let element = r.element[index] { values.append(value(of: element)) } else { values.append(.null) }
            }
            return .array(values)
        default:
            return .null
        }
    }

    private static func bytes(_ pointer: UnsafeMutablePointer<CChar>?, _ length: Int) -> [UInt8] {
        guard let pointer, length > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: length).bindMemory(to: UInt8.self))
    }

    private static func errorString(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            let end = bytes.firstIndex(of: 0) ?? bytes.count
            return String(decoding: bytes[..<end], as: UTF8.self)
        }
    }

    /// Lays out argv/argvlen for hiredis without copying the arguments again.
    private func withArgv<R>(_ arguments: [[UInt8]], _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R) -> R {
        let count = arguments.count
        let argv = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: count)
        let lengths = UnsafeMutablePointer<Int>.allocate(capacity: count)
        defer {
            argv.deallocate()
            lengths.deallocate()
        }
        // Keep each argument's storage alive for the call: copy into one contiguous block.
        let total = arguments.reduce(0) { $0 + $1.count }
        let storage = UnsafeMutablePointer<CChar>.allocate(capacity: max(total, 1))
        defer { storage.deallocate() }
        var offset = 0
        for (index, argument) in arguments.enumerated() {
            argument.withUnsafeBytes { raw in
                if let base = raw.baseAddress {
                    (storage + offset).withMemoryRebound(to: UInt8.self, capacity: argument.count) { target in
                        target.update(from: base.assumingMemoryBound(to: UInt8.self), count: argument.count)
                    }
                }
            }
            argv[index] = UnsafePointer(storage + offset)
            lengths[index] = argument.count
            offset += argument.count
        }
        return body(Int32(count), argv, UnsafePointer(lengths))
    }
}
