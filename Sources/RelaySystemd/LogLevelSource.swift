import Logging
import Synchronization

/// A log level that many handlers share and that can change while the relay runs (a
/// SIGHUP reload sets it once; every logger made from it follows at its next call).
///
/// swift-log treats a handler's level as a value; handlers built on a source deliberately
/// share it instead, so `logger.logLevel = .debug` on one such logger changes them all.
///
/// An atomic rather than a lock: the level is read by every log call, including the ones
/// it filters out, on every event loop.
public final class LogLevelSource: Sendable {
    private let rawLevel: Atomic<UInt8>

    public init(_ level: Logger.Level = .info) {
        rawLevel = Atomic(Self.raw(level))
    }

    public var level: Logger.Level {
        get { Self.level(rawLevel.load(ordering: .relaxed)) }
        set { rawLevel.store(Self.raw(newValue), ordering: .relaxed) }
    }

    private static func raw(_ level: Logger.Level) -> UInt8 {
        switch level {
        case .trace: 0
        case .debug: 1
        case .info: 2
        case .notice: 3
        case .warning: 4
        case .error: 5
        case .critical: 6
        }
    }

    private static func level(_ raw: UInt8) -> Logger.Level {
        switch raw {
        case 0: .trace
        case 1: .debug
        case 2: .info
        case 3: .notice
        case 4: .warning
        case 5: .error
        default: .critical
        }
    }
}
