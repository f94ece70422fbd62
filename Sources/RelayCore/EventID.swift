/// The relay's replay cursor, sent as each event's SSE `id:`.
///
/// `epoch` names one history (a standalone process's lifetime, or a cluster's shared store);
/// `sequence` is one counter for every stream of that history, so a single id a browser
/// holds orders its client events and all its topic events together. A cursor from another
/// epoch cannot be compared and leads to a reset instead of a wrong replay.
///
/// Wire form: `"<epoch>-<sequence>"` in decimal, e.g. `1764156000123-42`.
public struct EventID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var epoch: UInt64
    public var sequence: UInt64

    public init(epoch: UInt64, sequence: UInt64) {
        self.epoch = epoch
        self.sequence = sequence
    }

    /// Parses the wire form; `nil` for anything else (the caller answers with a reset).
    public init?(_ text: some StringProtocol) {
        let utf8 = text.utf8
        guard let dash = utf8.firstIndex(of: UInt8(ascii: "-")),
            let epoch = Self.parseDigits(utf8[utf8.startIndex..<dash]),
            let sequence = Self.parseDigits(utf8[utf8.index(after: dash)...])
        else { return nil }
        self.init(epoch: epoch, sequence: sequence)
    }

    public var description: String { "\(epoch)-\(sequence)" }

    public static func < (lhs: EventID, rhs: EventID) -> Bool {
        (lhs.epoch, lhs.sequence) < (rhs.epoch, rhs.sequence)
    }

    private static func parseDigits<C: Collection<UInt8>>(_ digits: C) -> UInt64? {
        guard !digits.isEmpty, digits.count <= 20 else { return nil }
        var value: UInt64 = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            guard !o1, !o2 else { return nil }
            value = sum
        }
        return value
    }
}
