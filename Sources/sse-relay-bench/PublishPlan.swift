/// What one publisher connection does during a scenario.
struct PublishPlan: Sendable {
    enum Mode: Sendable {
        /// One targeted event per request, paced at this many events per second.
        case targetedRate(Double)
        /// One targeted event per request, keeping `pipeline` requests in flight.
        case targetedMax
        /// NDJSON batches of this many targeted events, keeping `pipeline` requests in flight.
        case bulk(batch: Int)
        /// One topic event per request, paced at this many events per second.
        case topicRate(Double)
    }

    var mode: Mode
    var durationNanos: UInt64
    var pipeline: Int
    var seed: UInt64
}
