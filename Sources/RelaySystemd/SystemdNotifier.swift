#if canImport(Glibc)
import Glibc
#endif

/// Tells the service manager about the relay's state through the `sd_notify` protocol:
/// readiness (`Type=notify`), reloads (`Type=notify-reload`), shutdown, status text,
/// watchdog keep-alives and start/stop timeout extensions.
///
/// Delivery is best effort, as the protocol is: a datagram that cannot be sent is dropped
/// and the methods return `false` rather than throw, because there is nothing useful a
/// caller could do about it except log (systemd will notice a missed `READY=1` or
/// `WATCHDOG=1` on its own).
///
/// Each call is one `sendmsg(2)` on a Unix datagram socket: cheap and safe from any thread,
/// but meant for state changes and periodic pings, not per-event use.
public struct SystemdNotifier: Sendable {
    /// `NOTIFY_SOCKET` as it was when the notifier was made; a leading `@` is an abstract
    /// socket. libsystemd re-reads the variable on every send.
    public let socketPath: String

    init(socketPath: String) {
        self.socketPath = socketPath
    }

    /// A notifier when a service manager supervises this process, `nil` otherwise
    /// (`NOTIFY_SOCKET` unset or empty), so callers can skip the whole feature.
    public static func fromEnvironment() -> SystemdNotifier? {
        guard let value = getenv("NOTIFY_SOCKET"), value.pointee != 0 else {
            return nil
        }
        return SystemdNotifier(socketPath: String(cString: value))
    }

    /// Sends `KEY=value` lines, ordered by key so the datagram is reproducible.
    ///
    /// The protocol is line-based: a newline inside a value would start a new assignment,
    /// so newlines (CR or LF) in values become spaces.
    @discardableResult
    public func send(_ assignments: [String: String]) -> Bool {
        send(Self.message(assignments.sorted { $0.key < $1.key }))
    }

    /// Sends a raw notify message, already formatted as `\n`-separated `KEY=value` lines.
    @discardableResult
    public func send(_ raw: String) -> Bool {
        Libsystemd.notify(raw) > 0
    }

    /// `READY=1`: start-up finished, listeners are open. systemd starts dependent units and
    /// `systemctl start` returns.
    @discardableResult
    public func ready(status: String? = nil) -> Bool {
        send(Self.message([("READY", "1")] + Self.statusAssignment(status)))
    }

    /// `STATUS=`: a one-line free-form state shown by `systemctl status`.
    @discardableResult
    public func status(_ text: String) -> Bool {
        send(Self.message([("STATUS", text)]))
    }

    /// `STOPPING=1`: shutdown began; systemd stops counting the watchdog as a health check.
    @discardableResult
    public func stopping(status: String? = nil) -> Bool {
        send(Self.message([("STOPPING", "1")] + Self.statusAssignment(status)))
    }

    /// `RELOADING=1` with `MONOTONIC_USEC=` (CLOCK_MONOTONIC now): systemd 253+ needs the
    /// timestamp for `Type=notify-reload` to tell this reload from an earlier one; 252
    /// ignores the extra field. Send ``ready(status:)`` when the reload is done.
    @discardableResult
    public func reloading(status: String? = nil) -> Bool {
        send(Self.message(
            [("RELOADING", "1"), ("MONOTONIC_USEC", String(Self.monotonicMicroseconds()))]
                + Self.statusAssignment(status)
        ))
    }

    /// `WATCHDOG=1`: the keep-alive for `WatchdogSec=`. Send at least every half
    /// ``watchdogInterval()``.
    @discardableResult
    public func watchdogPing() -> Bool {
        send("WATCHDOG=1")
    }

    /// `EXTEND_TIMEOUT_USEC=`: asks for `duration` more time before the start-up, reload
    /// or stop timeout fires, e.g. while draining many streams on shutdown.
    @discardableResult
    public func extendTimeout(_ duration: Duration) -> Bool {
        send(Self.message([("EXTEND_TIMEOUT_USEC", String(duration.wholeMicroseconds))]))
    }

    /// The `WatchdogSec=` interval when systemd watches this very process (`WATCHDOG_USEC`
    /// set and `WATCHDOG_PID`, if set, is our pid), else `nil`.
    public static func watchdogInterval() -> Duration? {
        Libsystemd.watchdogMicroseconds().map { .microseconds($0) }
    }
}

extension SystemdNotifier {
    static func message(_ assignments: [(key: String, value: String)]) -> String {
        assignments
            .map { "\($0.key)=\(oneLine($0.value))" }
            .joined(separator: "\n")
    }

    private static func oneLine(_ value: String) -> String {
        String(value.unicodeScalars.map { $0 == "\n" || $0 == "\r" ? " " : Character($0) })
    }

    private static func statusAssignment(_ status: String?) -> [(key: String, value: String)] {
        status.map { [("STATUS", $0)] } ?? []
    }

    /// CLOCK_MONOTONIC, not `ContinuousClock` (CLOCK_BOOTTIME on Linux): systemd compares
    /// `MONOTONIC_USEC` with its own monotonic clock.
    static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000
    }
}
