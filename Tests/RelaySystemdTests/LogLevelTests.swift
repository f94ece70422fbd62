import Logging
@testable import RelaySystemd
import Synchronization
import Testing

@Suite struct LogLevelSourceTests {
    @Test(arguments: Logger.Level.allCases)
    func roundTrips(level: Logger.Level) {
        let source = LogLevelSource(.critical)
        source.level = level
        #expect(source.level == level)
        #expect(LogLevelSource(level).level == level)
    }

    @Test func defaultIsInfo() {
        #expect(LogLevelSource().level == .info)
    }
}

/// Records what reaches it, so the tests see what `Logger` let through.
struct RecordingLogHandler: LogHandler {
    let events: Recorder
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    var logLevel: Logger.Level = .critical

    final class Recorder: Sendable {
        let messages = Mutex<[String]>([])
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        // Re-checks its own level, as some handlers do: the wrapper must not be defeated by it.
        guard event.level >= logLevel else {
            return
        }
        let text = "\(event.level) \(event.message) \(event.metadata?["client.id"]?.description ?? "-") \(metadata["node.id"]?.description ?? "-")"
        events.messages.withLock { $0.append(text) }
    }
}

@Suite struct DynamicLevelLogHandlerTests {
    @Test func levelChangesLive() {
        let recorder = RecordingLogHandler.Recorder()
        let source = LogLevelSource(.info)
        var logger = Logger(label: "relay.test") { _ in
            DynamicLevelLogHandler(RecordingLogHandler(events: recorder), level: source)
        }
        logger[metadataKey: "node.id"] = "n1"
        logger.debug("hidden")
        logger.info("shown", metadata: ["client.id": "42"])
        source.level = .debug
        logger.debug("now shown")
        source.level = .error
        logger.warning("hidden again")
        #expect(recorder.messages.withLock { $0 } == ["info shown 42 n1", "debug now shown - n1"])
    }

    @Test func settingTheLevelWritesTheSource() {
        let source = LogLevelSource(.info)
        var logger = Logger(label: "relay.test") { _ in
            DynamicLevelLogHandler(RecordingLogHandler(events: .init()), level: source)
        }
        logger.logLevel = .trace
        #expect(source.level == .trace)
    }

    @Test func wrapsStreamLogHandler() {
        let source = LogLevelSource(.notice)
        let handler = DynamicLevelLogHandler(StreamLogHandler.standardError(label: "x"), level: source)
        #expect(handler.logLevel == .notice)
        #expect(handler.wrapped.logLevel == .trace)
    }
}
