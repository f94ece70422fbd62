@testable import RelaySystemd
import Testing

@Suite struct JournalFieldNameTests {
    @Test(arguments: [
        ("client.id", "SSE_CLIENT_ID"),
        ("node.id", "SSE_NODE_ID"),
        ("topic", "SSE_TOPIC"),
        ("topics", "SSE_TOPIC"),
        ("event.id", "SSE_EVENT_ID"),
        ("peer", "SSE_PEER"),
        ("publisher.pid", "SSE_PUBLISHER_PID"),
        ("publisher.uid", "SSE_PUBLISHER_UID"),
        ("reason", "SSE_REASON"),
        ("error.message", "SSE_ERROR_MESSAGE"),
        ("redis-url", "SSE_REDIS_URL"),
        ("Batch Size", "SSE_BATCH_SIZE"),
        ("retry_after_ms", "SSE_RETRY_AFTER_MS"),
        ("2xx", "SSE_2XX"),
        ("_private", "SSE__PRIVATE"),
        ("", "SSE_"),
        ("clé", "SSE_CL_"),
        ("🚀.count", "SSE___COUNT"),
    ])
    func mapping(key: String, expected: String) {
        #expect(JournalFieldName.forMetadataKey(key) == expected)
    }

    @Test func namesAreValidJournalFieldNames() {
        let keys = ["client.id", "a.b-c d", String(repeating: "x", count: 200), "ÅÄÖ", "9lives", "_x"]
        for key in keys {
            let name = JournalFieldName.forMetadataKey(key)
            #expect(name.utf8.count <= 64, "\(name)")
            #expect(name.utf8.allSatisfy { (0x41...0x5A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x5F }, "\(name)")
            #expect(name.first.map { $0 != "_" && !$0.isNumber } == true, "\(name)")
        }
    }

    @Test func longKeysAreCutAt64() {
        let name = JournalFieldName.forMetadataKey(String(repeating: "ab", count: 100))
        #expect(name == "SSE_" + String(repeating: "AB", count: 30))
    }
}
