import Logging

extension Logger.Level {
    /// The syslog priority journald stores as `PRIORITY=` (what `journalctl -p` filters on).
    /// swift-log has no alert or emergency: `critical` is the most severe.
    var syslogPriority: Int {
        switch self {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }
}
