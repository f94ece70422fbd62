import ArgumentParser

/// The server under test. Each speaks SSE to the subscribers the same way, but has its own
/// subscribe URL and publish API, so the scenarios stay the same and only the requests change.
enum Target: String, CaseIterable, ExpressibleByArgument, Sendable {
    /// sse-relay: `GET /events/ID[?topic=T]`; publishes over its Unix socket (JSON, NDJSON bulk).
    case relay
    /// nginx with nchan: `GET /sub/ID` (or `/sub/T` for a topic); `POST /pub/ID` with the raw data
    /// over HTTP. nchan has no call that carries different messages for different channels, so
    /// there is no bulk mode.
    case nchan
    /// Pushpin in front of a GRIP origin that holds `/events/ID[?topic=T]` as channels ID (and T);
    /// publishes through the HTTP publish API, whose `items` array is its batch call.
    case pushpin

    var hasBulk: Bool { self != .nchan }
}
