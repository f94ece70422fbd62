/// What one or more publishers did, counted in events (a bulk request carries many).
struct PublishResult: Sendable {
    var requests = 0
    var responses = 0
    var eventsSent = 0
    /// Events in 200 responses (for bulk: report lines that did not name a failure).
    var accepted = 0
    /// Events the relay answered 404 for, or bulk report lines saying so: client not connected.
    var notConnected = 0
    /// Events in any other non-200 response.
    var rejected = 0
    /// Sum of the reports' `delivered` counts: what the relay says it queued to connections.
    var reportedDelivered = 0
    var statusCounts: [Int: Int] = [:]
    /// For paced modes: most events that were due but held back because the pipeline was full.
    var maxBacklog = 0
    var startNanos: UInt64 = 0
    var sendEndNanos: UInt64 = 0
    var lastResponseNanos: UInt64 = 0
    var errors: [String] = []

    mutating func merge(_ other: PublishResult) {
        requests += other.requests
        responses += other.responses
        eventsSent += other.eventsSent
        accepted += other.accepted
        notConnected += other.notConnected
        rejected += other.rejected
        reportedDelivered += other.reportedDelivered
        for (status, count) in other.statusCounts {
            statusCounts[status, default: 0] += count
        }
        maxBacklog = max(maxBacklog, other.maxBacklog)
        startNanos = startNanos == 0 ? other.startNanos : min(startNanos, other.startNanos)
        sendEndNanos = max(sendEndNanos, other.sendEndNanos)
        lastResponseNanos = max(lastResponseNanos, other.lastResponseNanos)
        errors += other.errors
    }
}
