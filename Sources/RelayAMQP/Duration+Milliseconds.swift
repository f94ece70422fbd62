extension Duration {
    /// Whole milliseconds, rounded down and saturating: the unit of `x-expires`,
    /// `x-message-ttl` and poll(2).
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        if overflow { return seconds < 0 ? .min : .max }
        return scaled.addingReportingOverflow(attoseconds / 1_000_000_000_000_000).partialValue
    }
}
