import Logging
@testable import RelaySystemd
import Testing

@Suite struct JournaldLogHandlerTests {
    struct Failure: Error, CustomStringConvertible {
        var description: String { "broker went away" }
    }

    @Test func metadataMergesHandlerProviderAndCall() {
        var handler = JournaldLogHandler(
            label: "relay.sse",
            identifier: "sse-relay-test",
            logLevel: .debug,
            metadataProvider: Logger.MetadataProvider { ["node.id": "node-b", "peer": "from-provider"] }
        )
        handler.metadata = ["node.id": "node-a", "client.id": "7"]
        handler[metadataKey: "topics"] = "a,b"
        let entry = handler.entry(for: LogEvent(
            level: .notice,
            message: "stream closed",
            metadata: ["client.id": "42", "reason": "client_gone"],
            source: "RelaySSE",
            file: "RelaySSE/SSEStream.swift",
            function: "close()",
            line: 9
        ))
        #expect(entry.values(named: "SSE_NODE_ID") == ["node-b"])
        #expect(entry.values(named: "SSE_PEER") == ["from-provider"])
        #expect(entry.values(named: "SSE_CLIENT_ID") == ["42"])
        #expect(entry.values(named: "SSE_REASON") == ["client_gone"])
        #expect(entry.values(named: "SSE_TOPIC") == ["a", "b"])
        #expect(entry.values(named: "PRIORITY") == ["5"])
        #expect(entry.values(named: "SYSLOG_IDENTIFIER") == ["sse-relay-test"])
        #expect(entry.values(named: "CODE_FUNC") == ["close()"])
    }

    @Test func errorOfTheEventBecomesFields() {
        let handler = JournaldLogHandler(label: "relay.amqp", metadataProvider: nil)
        var event = LogEvent(level: .error, message: "publish failed", metadata: nil, source: "RelayAMQP",
                             file: "f", function: "g", line: 1)
        event.error = Failure()
        let entry = handler.entry(for: event)
        #expect(entry.values(named: "SSE_ERROR_MESSAGE") == ["broker went away"])
        #expect(entry.values(named: "SSE_ERROR_TYPE").first?.hasSuffix("Failure") == true)
        #expect(entry.values(named: "SYSLOG_IDENTIFIER") == ["sse-relay"])
    }

    @Test func ownLevelIsAValue() {
        var first = JournaldLogHandler(label: "a", logLevel: .info)
        let second = first
        first.logLevel = .debug
        #expect(first.logLevel == .debug)
        #expect(second.logLevel == .info)
    }

    @Test func sharedLevelFollowsTheSource() {
        let source = LogLevelSource(.info)
        var first = JournaldLogHandler(label: "a", level: source)
        let second = JournaldLogHandler(label: "b", level: source)
        source.level = .warning
        #expect(first.logLevel == .warning)
        #expect(second.logLevel == .warning)
        first.logLevel = .trace
        #expect(source.level == .trace)
        #expect(second.logLevel == .trace)
    }

    @Test func loggingWithoutJournaldIsHarmless() {
        // No journald on a build machine: libsystemd drops the datagram and returns.
        let logger = Logger(label: "relay.test") { JournaldLogHandler(label: $0, identifier: "sse-relay-test", logLevel: .trace) }
        logger.info("nobody listens", metadata: ["client.id": "1", "topics": "x,y"])
        logger.trace("multi\nline")
    }
}
