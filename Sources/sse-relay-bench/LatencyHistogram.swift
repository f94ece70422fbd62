/// Fixed-size log-linear histogram of nanosecond latencies.
///
/// 64 linear sub-buckets per power of two keep the relative error under 1.6% over the whole UInt64
/// range with 3,776 counters, so recording is an index computation and an increment: no growth,
/// no sorting, and per-loop histograms merge by adding counts.
struct LatencyHistogram: Sendable {
    private static let subBits = 6
    private static let subCount = 1 << subBits
    static let bucketCount = (64 - subBits + 1) * subCount

    private(set) var counts: [Int]
    private(set) var total = 0
    private(set) var maxValue: UInt64 = 0
    private(set) var sum: Double = 0

    init() {
        counts = Array(repeating: 0, count: Self.bucketCount)
    }

    @inline(__always)
    static func index(of value: UInt64) -> Int {
        if value < UInt64(subCount) { return Int(value) }
        let exponent = 63 - value.leadingZeroBitCount
        let sub = Int(truncatingIfNeeded: value >> UInt64(exponent - subBits)) & (subCount - 1)
        return (exponent - subBits + 1) * subCount + sub
    }

    static func lowerBound(of index: Int) -> UInt64 {
        if index < subCount { return UInt64(index) }
        let exponent = index / subCount + subBits - 1
        let sub = UInt64(index % subCount)
        return (UInt64(subCount) + sub) << UInt64(exponent - subBits)
    }

    static func upperBound(of index: Int) -> UInt64 {
        index + 1 < bucketCount ? lowerBound(of: index + 1) - 1 : UInt64.max
    }

    @inline(__always)
    mutating func record(_ value: UInt64) {
        counts[Self.index(of: value)] &+= 1
        total &+= 1
        sum += Double(value)
        if value > maxValue { maxValue = value }
    }

    mutating func merge(_ other: LatencyHistogram) {
        for i in 0..<Self.bucketCount where other.counts[i] != 0 {
            counts[i] += other.counts[i]
        }
        total += other.total
        sum += other.sum
        maxValue = max(maxValue, other.maxValue)
    }

    /// Value at quantile `q` (0...1), reported as the bucket's midpoint, clamped to the exact maximum.
    func quantile(_ q: Double) -> UInt64 {
        guard total > 0 else { return 0 }
        let rank = max(1, Int((q * Double(total)).rounded(.up)))
        var seen = 0
        for i in 0..<Self.bucketCount {
            seen += counts[i]
            if seen >= rank {
                let low = Self.lowerBound(of: i)
                let high = Self.upperBound(of: i)
                return min(low + (high - low) / 2, maxValue)
            }
        }
        return maxValue
    }

    var mean: Double { total > 0 ? sum / Double(total) : 0 }
}
