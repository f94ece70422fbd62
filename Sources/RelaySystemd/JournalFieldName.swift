/// Turns the relay's dotted metadata keys into journal field names, so entries can be
/// filtered with `journalctl SSE_CLIENT_ID=42`.
///
/// Journal field names may hold only `A-Z`, `0-9` and `_`, must not start with `_` (those
/// are trusted fields journald adds itself) or a digit, and are at most 64 characters.
/// Every name we make starts with `SSE_`, which satisfies the first two rules and keeps our
/// fields apart from journald's own (`MESSAGE`, `PRIORITY`, `CODE_FILE`, ...).
enum JournalFieldName {
    static let maximumLength = 64

    /// The keys the relay uses everywhere, spelled as operators will type them.
    static let wellKnown: [String: String] = [
        "client.id": "SSE_CLIENT_ID",
        "node.id": "SSE_NODE_ID",
        "topic": "SSE_TOPIC",
        "topics": "SSE_TOPIC",
        "event.id": "SSE_EVENT_ID",
        "peer": "SSE_PEER",
        "publisher.pid": "SSE_PUBLISHER_PID",
        "publisher.uid": "SSE_PUBLISHER_UID",
    ]

    /// `SSE_` + the key upper-cased, every character other than an ASCII letter or digit as
    /// `_`, cut to 64 characters (two very long keys may then share a name).
    static func forMetadataKey(_ key: String) -> String {
        if let known = wellKnown[key] {
            return known
        }
        var name = "SSE_"
        for scalar in key.unicodeScalars {
            guard name.utf8.count < maximumLength else {
                break
            }
            switch scalar {
            case "A"..."Z", "0"..."9":
                name.unicodeScalars.append(scalar)
            case "a"..."z":
                name.unicodeScalars.append(Unicode.Scalar(scalar.value - 0x20)!)
            default:
                name.unicodeScalars.append("_")
            }
        }
        return name
    }
}
