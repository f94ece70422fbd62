import RelayCore
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Lets async callers interrupt a worker thread that sleeps in poll(2) on its broker socket.
///
/// A condition variable cannot wake a thread blocked on a socket; a pipe can sit in the same
/// poll set. Both ends are non-blocking: a full pipe already means "wake up", so a failed
/// write loses nothing.
final class WakeupPipe: Sendable {
    private let readEnd: Int32
    private let writeEnd: Int32

    /// What ended a ``wait(socket:timeout:)``.
    struct Readiness {
        var socketReadable = false
        var woken = false
    }

    init() throws(AMQPError) {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else {
            throw AMQPError(.system, "cannot create a wakeup pipe: \(String(cString: strerror(errno)))")
        }
        for end in ends {
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
        }
        readEnd = ends[0]
        writeEnd = ends[1]
    }

    deinit {
        close(readEnd)
        close(writeEnd)
    }

    /// Thread-safe; cheap enough to call once per request.
    func signal() {
        var byte: UInt8 = 1
        _ = write(writeEnd, &byte, 1)
    }

    /// How many times the owning thread came back from ``wait(socket:timeout:)``: a
    /// watchdog that sees it advance knows the thread is not stuck (it waits at most a tick).
    let progress = Atomic<UInt64>(0)

    /// Sleeps until the socket (if any) is readable, ``signal()`` was called, or `timeout`
    /// passed. Consumes pending signals, so each one wakes the thread once.
    func wait(socket: Int32?, timeout: Duration) -> Readiness {
        defer { progress.add(1, ordering: .relaxed) }
        var descriptors = [pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)]
        if let socket {
            descriptors.append(pollfd(fd: socket, events: Int16(POLLIN), revents: 0))
        }
        // Round up: a deadline 0.4 ms away must not turn into a busy loop of zero timeouts.
        let milliseconds = timeout <= .zero ? 0 : Int32(clamping: (timeout + .nanoseconds(999_999)).milliseconds)
        let count = poll(&descriptors, nfds_t(descriptors.count), milliseconds)
        var readiness = Readiness()
        guard count > 0 else {
            // Timeout, or EINTR: either way the caller re-checks its state.
            return readiness
        }
        if descriptors[0].revents != 0 {
            readiness.woken = true
            var scratch = [UInt8](repeating: 0, count: 64)
            while read(readEnd, &scratch, scratch.count) > 0 {}
        }
        // POLLHUP/POLLERR count as readable: the next read reports the error.
        if descriptors.count > 1, descriptors[1].revents != 0 {
            readiness.socketReadable = true
        }
        return readiness
    }
}
