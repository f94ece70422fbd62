import Logging

/// Wraps any handler (swift-log's `StreamLogHandler` for `--log-format text`) so that its
/// level comes from a shared ``LogLevelSource`` and follows a reload, like
/// ``JournaldLogHandler`` does.
///
/// The wrapped handler's own level is set to `.trace` once: `Logger` filters with this
/// wrapper's level before calling ``log(event:)``, and a handler that re-checked its own
/// level would otherwise hide messages the shared level lets through.
public struct DynamicLevelLogHandler<Wrapped: LogHandler>: LogHandler {
    public var wrapped: Wrapped
    public let levelSource: LogLevelSource

    public init(_ wrapped: Wrapped, level: LogLevelSource) {
        self.wrapped = wrapped
        self.wrapped.logLevel = .trace
        self.levelSource = level
    }

    /// Reads and writes the shared source: setting it changes every handler on it.
    public var logLevel: Logger.Level {
        get { levelSource.level }
        set { levelSource.level = newValue }
    }

    public var metadata: Logger.Metadata {
        get { wrapped.metadata }
        set { wrapped.metadata = newValue }
    }

    public var metadataProvider: Logger.MetadataProvider? {
        get { wrapped.metadataProvider }
        set { wrapped.metadataProvider = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { wrapped[metadataKey: key] }
        set { wrapped[metadataKey: key] = newValue }
    }

    public func log(event: LogEvent) {
        wrapped.log(event: event)
    }
}
