import Testing

@testable import RelayCore

@Suite struct IdentifierTests {
    @Test(arguments: ["42", "user@example.com", "a.b_c:d-e", "A", String(repeating: "z", count: 128)])
    func validIDs(_ value: String) {
        #expect(ClientID(value)?.rawValue == value)
        #expect(TopicName(value)?.rawValue == value)
    }

    @Test(arguments: ["", String(repeating: "z", count: 129), "a b", "a/b", "a\nb", "é", "a%20b", "a?b", "a#b", "a\u{0}b", "a+b"])
    func invalidIDs(_ value: String) {
        #expect(ClientID(value) == nil)
        #expect(TopicName(value) == nil)
    }
}

@Suite struct EventIDTests {
    @Test func roundTrips() {
        let id = EventID(epoch: 1_764_156_000_123, sequence: 42)
        #expect(id.description == "1764156000123-42")
        #expect(EventID("1764156000123-42") == id)
    }

    @Test(arguments: ["", "-", "1-", "-1", "1", "a-1", "1-a", "1-2-3", "1 -2", "99999999999999999999999-1", "+1-2"])
    func malformedCursorsAreRejected(_ text: String) {
        #expect(EventID(text) == nil)
    }

    @Test func ordersByEpochThenSequence() {
        #expect(EventID(epoch: 1, sequence: 9) < EventID(epoch: 1, sequence: 10))
        #expect(EventID(epoch: 1, sequence: 99) < EventID(epoch: 2, sequence: 0))
    }
}
