#if canImport(Glibc)
import Glibc
#endif

/// How the relay writes its logs: `--log-format auto|journald|text`.
public enum LogFormat: String, Sendable, CaseIterable {
    /// journald when stderr is connected to the journal, text otherwise.
    case auto
    /// Native journal entries with structured fields (``JournaldLogHandler``).
    case journald
    /// One line per message on stderr.
    case text

    /// Turns `.auto` into a concrete format; the others are returned as they are.
    ///
    /// systemd sets `JOURNAL_STREAM=DEV:INODE` for a service whose stderr goes to the
    /// journal. The variable is inherited by anything the service starts, even with stderr
    /// redirected elsewhere, so it counts only when it names the descriptor stderr really
    /// is (sd_journal_stream_fd(3) recommends exactly this check).
    public static func resolve(_ requested: LogFormat) -> LogFormat {
        resolve(
            requested,
            journalStream: getenv("JOURNAL_STREAM").map { String(cString: $0) },
            standardError: FileIdentity(descriptor: STDERR_FILENO)
        )
    }

    static func resolve(_ requested: LogFormat, journalStream: String?, standardError: FileIdentity?) -> LogFormat {
        guard requested == .auto else {
            return requested
        }
        guard let journalStream, let standardError, FileIdentity(journalStream: journalStream) == standardError else {
            return .text
        }
        return .journald
    }
}
