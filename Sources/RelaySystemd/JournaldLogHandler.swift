import Logging

/// A swift-log handler that writes native journal entries (`sd_journal_sendv`), with the
/// logger metadata as fields an operator can filter on:
/// `journalctl -t sse-relay SSE_CLIENT_ID=42 -p warning`.
///
/// Fields: `MESSAGE`, `PRIORITY` (syslog numbers), `SYSLOG_IDENTIFIER`, `LOGGER_LABEL`,
/// `CODE_FILE` / `CODE_LINE` / `CODE_FUNC`, then one field per metadata key (the handler's,
/// the metadata provider's, the call's, later ones overriding earlier ones, as
/// `StreamLogHandler` merges them) named by ``JournalFieldName``: `client.id` is
/// `SSE_CLIENT_ID`, `reason` is `SSE_REASON`.
///
/// Each entry is one datagram to `/run/systemd/journal/socket`. When journald lags, the
/// send can block for a moment like any journal client; per-event logs are debug and off by
/// default, so only state changes take this path in production.
public struct JournaldLogHandler: LogHandler {
    public let label: String
    /// `SYSLOG_IDENTIFIER=`, what `journalctl -t` matches.
    public let identifier: String
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private var level: Level

    /// A level of this handler's own (a value, as swift-log expects) or a shared source.
    private enum Level: Sendable {
        case fixed(Logger.Level)
        case shared(LogLevelSource)
    }

    /// A handler whose level follows `level`, shared with every other handler on it (a
    /// reload changes them all).
    public init(
        label: String,
        identifier: String = "sse-relay",
        level: LogLevelSource,
        metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider
    ) {
        self.label = label
        self.identifier = identifier
        self.level = .shared(level)
        self.metadataProvider = metadataProvider
    }

    /// A handler with a level of its own.
    public init(
        label: String,
        identifier: String = "sse-relay",
        logLevel: Logger.Level = .info,
        metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider
    ) {
        self.label = label
        self.identifier = identifier
        self.level = .fixed(logLevel)
        self.metadataProvider = metadataProvider
    }

    /// With a ``LogLevelSource``, reads and writes the shared level.
    public var logLevel: Logger.Level {
        get {
            switch level {
            case .fixed(let value): value
            case .shared(let source): source.level
            }
        }
        set {
            switch level {
            case .fixed: level = .fixed(newValue)
            case .shared(let source): source.level = newValue
            }
        }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        entry(for: event).withIOVecs { fields in
            // Nothing to do on failure: the journal is where we would report it.
            _ = Libsystemd.journalSend(fields)
        }
    }

    func entry(for event: LogEvent) -> JournalEntry {
        JournalEntry(
            level: event.level,
            message: event.message.description,
            identifier: identifier,
            label: label,
            file: event.file,
            function: event.function,
            line: event.line,
            metadata: mergedMetadata(event)
        )
    }

    private func mergedMetadata(_ event: LogEvent) -> Logger.Metadata {
        var merged = metadata
        if let provided = metadataProvider?.get(), !provided.isEmpty {
            merged.merge(provided) { _, provided in provided }
        }
        if let explicit = event.metadata, !explicit.isEmpty {
            merged.merge(explicit) { _, explicit in explicit }
        }
        if let error = event.error {
            merged["error.message"] = "\(error)"
            merged["error.type"] = "\(String(reflecting: type(of: error)))"
        }
        return merged
    }
}
