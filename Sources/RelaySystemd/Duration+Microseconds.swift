extension Duration {
    /// Whole microseconds, negative durations as zero (the notify protocol's `*_USEC` values
    /// are unsigned) and absurdly long ones saturated rather than trapping.
    var wholeMicroseconds: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0 else {
            return 0
        }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000)
        guard !overflow else {
            return .max
        }
        let fraction = UInt64(max(attoseconds, 0) / 1_000_000_000_000)
        let (total, carry) = whole.addingReportingOverflow(fraction)
        return carry ? .max : total
    }
}
