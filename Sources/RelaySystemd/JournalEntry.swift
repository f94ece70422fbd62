#if canImport(Glibc)
import Glibc
#endif
import Logging

/// One native journal entry: the ordered `NAME=value` fields `sd_journal_sendv` receives.
///
/// Fields may repeat (one `SSE_TOPIC=` per topic) and values may hold any bytes, newlines
/// included: the iovec form is binary-safe, libsystemd picks the length-prefixed encoding
/// when a value needs it.
struct JournalEntry: Equatable, Sendable {
    struct Field: Equatable, Sendable {
        var name: String
        var value: String
    }

    private(set) var fields: [Field]

    /// Fixed fields first (`MESSAGE`, `PRIORITY`, `SYSLOG_IDENTIFIER`, `LOGGER_LABEL`,
    /// `CODE_*`), then metadata ordered by key, so an entry is reproducible.
    init(
        level: Logger.Level,
        message: String,
        identifier: String,
        label: String?,
        file: String,
        function: String,
        line: UInt,
        metadata: Logger.Metadata
    ) {
        fields = [
            Field(name: "MESSAGE", value: message),
            Field(name: "PRIORITY", value: String(level.syslogPriority)),
            Field(name: "SYSLOG_IDENTIFIER", value: identifier),
        ]
        if let label {
            fields.append(Field(name: "LOGGER_LABEL", value: label))
        }
        fields += [
            Field(name: "CODE_FILE", value: file),
            Field(name: "CODE_LINE", value: String(line)),
            Field(name: "CODE_FUNC", value: function),
        ]
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            let name = JournalFieldName.forMetadataKey(key)
            for text in Self.values(of: value, key: key) {
                fields.append(Field(name: name, value: text))
            }
        }
    }

    /// The values of all fields named `name`, in order.
    func values(named name: String) -> [String] {
        fields.filter { $0.name == name }.map(\.value)
    }

    /// `topics` is a list: a comma-separated string (how the SSE transport logs
    /// `?topic=a,b`) or an array, one journal field per topic so `journalctl SSE_TOPIC=b`
    /// matches. Everything else is one value, stringified as swift-log prints it.
    private static func values(of value: Logger.MetadataValue, key: String) -> [String] {
        switch (key, value) {
        case ("topics", .string(let list)):
            list.split(separator: ",")
                .map { $0.trimmingSpaces() }
                .filter { !$0.isEmpty }
        case ("topics", .array(let items)), ("topic", .array(let items)):
            items.map(\.description)
        default:
            [value.description]
        }
    }

    /// Calls `body` with one iovec per field, each pointing at `NAME=value` inside a single
    /// buffer that lives for the duration of the call.
    func withIOVecs<Result>(_ body: (UnsafeBufferPointer<iovec>) throws -> Result) rethrows -> Result {
        var bytes: [UInt8] = []
        var ranges: [Range<Int>] = []
        ranges.reserveCapacity(fields.count)
        for field in fields {
            let start = bytes.count
            bytes += field.name.utf8
            bytes.append(UInt8(ascii: "="))
            bytes += field.value.utf8
            ranges.append(start..<bytes.count)
        }
        return try bytes.withUnsafeMutableBytes { buffer in
            let vectors = ranges.map { range in
                iovec(iov_base: buffer.baseAddress.map { $0 + range.lowerBound }, iov_len: range.count)
            }
            return try vectors.withUnsafeBufferPointer(body)
        }
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
