import NIOHTTP1

/// What every SSE subscription request has in common; shared by all connections so that a
/// connection only keeps its client index, and builds its request head once when it connects.
final class SSERequestTemplate: Sendable {
    let hostHeader: String
    let clientPrefix: String
    /// Path before the client id, and what follows it ("" or "?topic=NAME").
    let pathPrefix: String
    let query: String
    /// nchan subscribers of a topic subscribe to the topic's channel only, so every connection
    /// gets the same path.
    let sharedPath: String?
    /// `--tokens`: one per client index; none for a relay without auth.
    let tokens: [String]

    init(target: Target, hostHeader: String, clientPrefix: String, topic: String?, tokens: [String] = []) {
        self.hostHeader = hostHeader
        self.clientPrefix = clientPrefix
        self.tokens = tokens
        switch target {
        case .relay, .pushpin:
            pathPrefix = "/events/"
            query = topic.map { "?topic=\($0)" } ?? ""
            sharedPath = nil
        case .nchan:
            pathPrefix = "/sub/"
            query = ""
            sharedPath = topic.map { "/sub/\($0)" }
        }
    }

    func head(forClient index: Int) -> HTTPRequestHead {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: hostHeader)
        headers.add(name: "Accept", value: "text/event-stream")
        headers.add(name: "Cache-Control", value: "no-cache")
        if index < tokens.count { headers.add(name: "Authorization", value: "Bearer " + tokens[index]) }
        return HTTPRequestHead(
            version: .http1_1, method: .GET, uri: sharedPath ?? "\(pathPrefix)\(clientPrefix)\(index)\(query)", headers: headers
        )
    }
}
