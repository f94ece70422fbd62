import Foundation
import NIOHTTP1
import RelayCore

/// The publish API's resources.
enum PublishRoute: Equatable {
    case publishToClient(ClientID)
    case publishToTopic(TopicName)
    case publishBulk
    case client(ClientID)
    case health
    case nodes
    case drain

    /// Routes a request head; throws the error to answer with.
    ///
    /// On the hot path (one call per published event) this splits the target by hand, on
    /// bytes (a `Substring` split compares Characters, grapheme by grapheme): valid ids never
    /// need percent-decoding, so Foundation's URL machinery is used only for the rare segment
    /// that contains `%`.
    static func parse(_ head: HTTPRequestHead) throws(APIError) -> PublishRoute {
        let uri = head.uri
        let path = uri.utf8.firstIndex(of: UInt8(ascii: "?")).map { uri[..<$0] } ?? uri[...]
        let parts = path.utf8.split(separator: UInt8(ascii: "/"), maxSplits: 5, omittingEmptySubsequences: false)
        guard parts.count >= 3, parts[0].isEmpty, parts[1].elementsEqual("v1".utf8) else { throw .notFound(path) }
        let segments = parts.dropFirst(2).map(Substring.init)

        func require(_ method: HTTPMethod, _ allowed: String) throws(APIError) {
            if head.method != method { throw .methodNotAllowed(head.method.rawValue, allowed: allowed) }
        }
        func decoded(_ raw: Substring) -> String {
            raw.utf8.contains(UInt8(ascii: "%")) ? (raw.removingPercentEncoding ?? String(raw)) : String(raw)
        }
        func client(_ raw: Substring) throws(APIError) -> ClientID {
            guard let id = ClientID(decoded(raw)) else { throw .invalidClientID(raw) }
            return id
        }

        switch (segments.count, segments[0]) {
        case (3, "clients") where segments[2] == "events":
            try require(.POST, "POST")
            return .publishToClient(try client(segments[1]))
        case (3, "topics") where segments[2] == "events":
            try require(.POST, "POST")
            guard let topic = TopicName(decoded(segments[1])) else { throw .invalidTopic(segments[1]) }
            return .publishToTopic(topic)
        case (1, "events"):
            try require(.POST, "POST")
            return .publishBulk
        case (2, "clients"):
            guard head.method == .GET || head.method == .DELETE else {
                throw .methodNotAllowed(head.method.rawValue, allowed: "GET, DELETE")
            }
            return .client(try client(segments[1]))
        case (1, "health"):
            try require(.GET, "GET")
            return .health
        case (1, "nodes"):
            try require(.GET, "GET")
            return .nodes
        case (1, "drain"):
            guard head.method == .GET || head.method == .POST else {
                throw .methodNotAllowed(head.method.rawValue, allowed: "GET, POST")
            }
            return .drain
        default:
            throw .notFound(path)
        }
    }

    /// The admin query parameters of `GET`/`DELETE /v1/clients/{id}`: `scope=cluster|node`
    /// and `timeout=SECONDS` (how long to wait for other nodes, 0.1 ... 60, default 3).
    static func adminOptions(of uri: String) throws(APIError) -> (scope: AdminScope, timeout: Duration) {
        var scope = AdminScope.cluster
        var timeout = Duration.seconds(3)
        for item in query(of: uri) {
            switch item.name {
            case "scope":
                guard let value = item.value.flatMap(AdminScope.init(rawValue:)) else {
                    throw APIError(status: 400, code: "invalid_scope", message: "scope must be cluster or node (got \(JSONText.excerpt(item.value ?? "")))")
                }
                scope = value
            case "timeout":
                guard let seconds = item.value.flatMap(Double.init), seconds >= 0.1, seconds <= 60 else {
                    throw APIError(status: 400, code: "invalid_timeout", message: "timeout must be 0.1 ... 60 seconds (got \(JSONText.excerpt(item.value ?? "")))")
                }
                timeout = .milliseconds(Int64(seconds * 1000))
            default:
                throw APIError(status: 400, code: "unknown_parameter", message: "unknown query parameter \(JSONText.excerpt(item.name)); known: scope, timeout")
            }
        }
        return (scope, timeout)
    }

    /// The decoded query parameters of a request target (only text/plain publishes use them).
    static func query(of uri: String) -> [URLQueryItem] {
        guard uri.utf8.contains(UInt8(ascii: "?")) else { return [] }
        return URLComponents(string: uri)?.queryItems ?? []
    }
}
