#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Starts the dedicated OS thread that owns one rabbitmq-c connection for its whole life.
///
/// A thread of our own, not a `Task` or a NIO event loop: rabbitmq-c blocks in connect,
/// login and socket writes, and blocking Swift's cooperative pool (a thread per core) or an
/// event loop would stall unrelated work.
enum WorkerThread {
    private final class Entry {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    static func spawn(name: String, _ body: @escaping @Sendable () -> Void) throws(AMQPError) {
        let entry = Unmanaged.passRetained(Entry(body)).toOpaque()
        #if canImport(Glibc)
        var thread = pthread_t()
        #else
        var thread: pthread_t?
        #endif
        let result = pthread_create(&thread, nil, { argument in
            let entry = Unmanaged<Entry>.fromOpaque(argument!).takeRetainedValue()
            entry.body()
            return nil
        }, entry)
        guard result == 0 else {
            Unmanaged<Entry>.fromOpaque(entry).release()
            throw AMQPError(.system, "cannot start thread \(name): \(String(cString: strerror(result)))")
        }
        #if canImport(Glibc)
        pthread_detach(thread)
        #else
        if let thread { pthread_detach(thread) }
        #endif
    }
}
