import NIOCore

extension ByteBuffer {
    /// Writes `value` in decimal without going through String: the publisher does this for every
    /// event it sends.
    @inline(__always)
    @discardableResult
    mutating func writeDecimal(_ value: UInt64) -> Int {
        let digits = Self.decimalDigits(value)
        return writeWithUnsafeMutableBytes(minimumWritableBytes: digits) { out in
            var rest = value
            var i = digits - 1
            repeat {
                out[i] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest % 10)
                rest /= 10
                i -= 1
            } while i >= 0
            return digits
        }
    }

    @inline(__always)
    static func decimalDigits(_ value: UInt64) -> Int {
        var digits = 1
        var rest = value
        while rest >= 10 {
            rest /= 10
            digits += 1
        }
        return digits
    }
}
