import NIOHTTP1

/// What every SSE subscription request has in common; shared by all connections so that a
/// connection only keeps its client index, and builds its request head once when it connects.
final class SSERequestTemplate: Sendable {
    let hostHeader: String
    let clientPrefix: String
    /// "" or "?topic=NAME".
    let query: String
    /// `--tokens`: one per client index; none for a relay without auth.
    let tokens: [String]

    init(hostHeader: String, clientPrefix: String, topic: String?, tokens: [String] = []) {
        self.hostHeader = hostHeader
        self.clientPrefix = clientPrefix
        self.query = topic.map { "?topic=\($0)" } ?? ""
        self.tokens = tokens
    }

    func head(forClient index: Int) -> HTTPRequestHead {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: hostHeader)
        headers.add(name: "Accept", value: "text/event-stream")
        headers.add(name: "Cache-Control", value: "no-cache")
        if index < tokens.count { headers.add(name: "Authorization", value: "Bearer " + tokens[index]) }
        return HTTPRequestHead(
            version: .http1_1, method: .GET, uri: "/events/\(clientPrefix)\(index)\(query)", headers: headers
        )
    }
}
