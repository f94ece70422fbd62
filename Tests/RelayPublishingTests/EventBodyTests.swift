import Foundation
import PropertyBased
import RelayCore
import Testing

@testable import RelayPublishing

/// `EventBody.plain` is a shortcut for the common event; `Decodable` is the definition.
/// Whatever the shortcut accepts, the definition must accept with the same fields, and the
/// common event must take the shortcut (or the shortcut is dead weight).
@Suite struct EventBodyTests {
    static let count = Int(ProcessInfo.processInfo.environment["SSE_RELAY_PROPERTY_COUNT"] ?? "") ?? 2_000

    static let keys = ["client", "topic", "event", "data", "retry", "Data", "extra", "", "\u{FEFF}data"]
    static let strings = ["", "a", "c-42", "é😀", "\u{0}", "\n\r", "\"quoted\"", "back\\slash", "\u{FEFF}", "{\"data\":1}", "\u{2028}"]

    /// One JSON value of the kinds a publisher might send.
    static func value(_ kind: Int, _ token: Int) -> Any {
        switch kind % 8 {
        case 0, 1, 2: strings[token % strings.count] + strings[(token / 11) % strings.count]
        case 3: NSNull()
        case 4: token
        case 5: token % 2 == 0
        case 6: [strings[token % strings.count], token] as [Any]
        default: ["order": token] as [String: Any]
        }
    }

    /// An object with distinct keys (which duplicate counts is not specified), sometimes cut
    /// short or with a byte changed, so invalid documents are in the mix too.
    static let documents = Gen<Int>.value(in: 0...Int.max).array(of: 0...6).map { picks -> Data in
        var object: [String: Any] = [:]
        for pick in picks.dropFirst() {
            object[keys[pick % keys.count]] = value(pick / keys.count, pick / 97)
        }
        var data = (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
        let mutation = picks.first ?? 0
        switch mutation % 10 {
        case 0 where !data.isEmpty: data = data.prefix(mutation / 10 % data.count)
        case 1 where !data.isEmpty: data[mutation / 10 % data.count] = UInt8(truncatingIfNeeded: mutation / 1000)
        default: break
        }
        return data
    }

    @Test func theShortcutAgreesWithTheDefinition() async {
        await propertyCheck(count: Self.count, input: Self.documents) { data in
            let strict = try? JSONDecoder().decode(EventBody.self, from: data)
            guard let plain = EventBody.plain(data) else {
                // The shortcut may decline anything; it must not decline the common event.
                if let strict, strict.retry == nil, Self.onlyStrings(data) {
                    Issue.record("the common event missed the shortcut: \(String(decoding: data, as: UTF8.self)) -> \(strict)")
                }
                return
            }
            guard let strict else {
                Issue.record("the shortcut accepted what the definition refuses: \(String(decoding: data, as: UTF8.self))")
                return
            }
            #expect(plain.client == strict.client)
            #expect(plain.topic == strict.topic)
            #expect(plain.event == strict.event)
            #expect(plain.data == strict.data)
            #expect(plain.retry == strict.retry)
        }
    }

    @Test func theCommonEventTakesTheShortcut() throws {
        let line = Data(#"{"client":"c-7","event":"order","data":"{\"id\":5}","topic":null}"#.utf8)
        let body = try #require(EventBody.plain(line))
        #expect(body.client == "c-7")
        #expect(body.topic == nil)
        #expect(body.event == "order")
        #expect(body.data == #"{"id":5}"#)
    }

    /// Whether the document is what the shortcut takes: the string fields only, each a
    /// string or null, a string `data`, and no byte order mark anywhere.
    static func onlyStrings(_ data: Data) -> Bool {
        guard data.firstRange(of: Data([0xEF, 0xBB, 0xBF])) == nil, let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return false }
        let fields: Set = ["client", "topic", "event", "data"]
        return object.allSatisfy { fields.contains($0.key) && ($0.value is String || $0.value is NSNull) } && object["data"] is String
    }
}
