import CSystemd

#if canImport(Glibc)
import Glibc
#endif

/// The only place that calls libsystemd (252). Each function is a thin, stateless wrapper:
/// libsystemd keeps no handle we would have to own, it reads the environment on every call.
///
/// Variadic functions (`sd_notifyf`, `sd_journal_send`) do not import into Swift; the
/// non-variadic `sd_notify` and `sd_journal_sendv` take the same data.
enum Libsystemd {
    /// `sd_notify(0, state)`: > 0 sent, 0 not supervised (`NOTIFY_SOCKET` unset), < 0 `-errno`.
    ///
    /// The environment stays set (`unset_environment` 0) so later notifications still reach
    /// the manager.
    static func notify(_ state: String) -> Int32 {
        sd_notify(0, state)
    }

    /// The watchdog interval in microseconds when `WATCHDOG_USEC` is set for this very pid.
    static func watchdogMicroseconds() -> UInt64? {
        var usec: UInt64 = 0
        guard sd_watchdog_enabled(0, &usec) > 0 else {
            return nil
        }
        return usec
    }

    /// The descriptors passed by the service manager, in order, with their
    /// `FileDescriptorName=`; libsystemd says "unknown" for unnamed ones.
    ///
    /// Unsets `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES` so no child process mistakes
    /// them for its own, and marks the descriptors close-on-exec.
    static func listenFileDescriptorsWithNames() -> [(descriptor: Int32, name: String)] {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = nil
        let count = sd_listen_fds_with_names(1, &names)
        defer {
            // A NULL-terminated strv that the caller owns, strings and array alike.
            if let names {
                var index = 0
                while let name = names[index] {
                    free(name)
                    index += 1
                }
                free(names)
            }
        }
        guard count > 0 else {
            return []
        }
        return (0..<Int(count)).map { index in
            let name = names?[index].map { String(cString: $0) } ?? SocketActivation.unnamed
            return (SD_LISTEN_FDS_START + Int32(index), name)
        }
    }

    /// A listening stream socket of any internet family.
    static func isListeningInetStreamSocket(_ descriptor: Int32) -> Bool {
        sd_is_socket_inet(descriptor, Int32(AF_UNSPEC), Int32(SOCK_STREAM.rawValue), 1, 0) > 0
    }

    /// A listening Unix stream socket, whatever its path.
    static func isListeningUnixStreamSocket(_ descriptor: Int32) -> Bool {
        sd_is_socket_unix(descriptor, Int32(SOCK_STREAM.rawValue), 1, nil, 0) > 0
    }

    /// Sends one native journal entry. Returns 0 or `-errno`; note that libsystemd also
    /// returns 0 when no journald listens, so the result says little.
    static func journalSend(_ fields: UnsafeBufferPointer<iovec>) -> Int32 {
        sd_journal_sendv(fields.baseAddress, Int32(fields.count))
    }
}
