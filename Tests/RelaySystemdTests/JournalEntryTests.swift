#if canImport(Glibc)
import Glibc
#endif
import Logging
@testable import RelaySystemd
import Testing

@Suite struct JournalEntryTests {
    @Test(arguments: [
        (Logger.Level.trace, 7), (.debug, 7), (.info, 6), (.notice, 5), (.warning, 4), (.error, 3), (.critical, 2),
    ])
    func priority(level: Logger.Level, syslog: Int) {
        #expect(level.syslogPriority == syslog)
        #expect(entry(level: level).values(named: "PRIORITY") == ["\(syslog)"])
    }

    @Test func fixedFieldsComeFirst() {
        let entry = entry(level: .info, message: "stream opened", metadata: ["client.id": "42", "peer": "127.0.0.1:50000"])
        #expect(entry.fields.map(\.name) == [
            "MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "LOGGER_LABEL", "CODE_FILE", "CODE_LINE", "CODE_FUNC",
            "SSE_CLIENT_ID", "SSE_PEER",
        ])
        #expect(entry.values(named: "MESSAGE") == ["stream opened"])
        #expect(entry.values(named: "SYSLOG_IDENTIFIER") == ["sse-relay-test"])
        #expect(entry.values(named: "LOGGER_LABEL") == ["relay.sse"])
        #expect(entry.values(named: "CODE_FILE") == ["RelaySSE/SSEServer.swift"])
        #expect(entry.values(named: "CODE_LINE") == ["120"])
        #expect(entry.values(named: "CODE_FUNC") == ["channelRead(context:data:)"])
        #expect(entry.values(named: "SSE_CLIENT_ID") == ["42"])
    }

    @Test func topicsBecomeRepeatedFields() {
        let listed = entry(metadata: ["topics": "news, sport,,weather"])
        #expect(listed.values(named: "SSE_TOPIC") == ["news", "sport", "weather"])
        let array = entry(metadata: ["topics": ["a", "b"]])
        #expect(array.values(named: "SSE_TOPIC") == ["a", "b"])
        // A single topic is one value, commas and all.
        let single = entry(metadata: ["topic": "a,b"])
        #expect(single.values(named: "SSE_TOPIC") == ["a,b"])
    }

    @Test func iovecsCarryEveryFieldIncludingRepeatedTopics() {
        let entry = entry(message: "line one\nline two", metadata: ["topics": "news,sport", "publisher.pid": .stringConvertible(4711)])
        let encoded = entry.withIOVecs { vectors in
            vectors.map { vector in
                String(decoding: UnsafeRawBufferPointer(start: vector.iov_base, count: vector.iov_len), as: UTF8.self)
            }
        }
        #expect(encoded.count == entry.fields.count)
        #expect(encoded.first == "MESSAGE=line one\nline two")
        #expect(encoded.filter { $0.hasPrefix("SSE_TOPIC=") } == ["SSE_TOPIC=news", "SSE_TOPIC=sport"])
        #expect(encoded.contains("SSE_PUBLISHER_PID=4711"))
        #expect(encoded.contains("PRIORITY=6"))
    }

    @Test func metadataValuesAreStringified() {
        let entry = entry(metadata: [
            "count": .stringConvertible(3),
            "flags": ["x", "y"],
            "nested": ["k": "v"],
            "text": "multi\nline",
        ])
        #expect(entry.values(named: "SSE_COUNT") == ["3"])
        #expect(entry.values(named: "SSE_FLAGS") == [Logger.MetadataValue.array(["x", "y"]).description])
        #expect(entry.values(named: "SSE_NESTED") == [Logger.MetadataValue.dictionary(["k": "v"]).description])
        #expect(entry.values(named: "SSE_TEXT") == ["multi\nline"])
    }

    private func entry(level: Logger.Level = .info, message: String = "m", metadata: Logger.Metadata = [:]) -> JournalEntry {
        JournalEntry(
            level: level,
            message: message,
            identifier: "sse-relay-test",
            label: "relay.sse",
            file: "RelaySSE/SSEServer.swift",
            function: "channelRead(context:data:)",
            line: 120,
            metadata: metadata
        )
    }
}
