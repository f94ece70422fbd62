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

    /// Routes a request head; throws the error to answer with.
    static func parse(_ head: HTTPRequestHead) throws(APIError) -> (PublishRoute, [URLQueryItem]) {
        guard let components = URLComponents(string: head.uri) else { throw .notFound(head.uri) }
        let path = components.percentEncodedPath
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        let query = components.queryItems ?? []

        func require(_ method: HTTPMethod, _ allowed: String) throws(APIError) {
            if head.method != method { throw .methodNotAllowed(head.method.rawValue, allowed: allowed) }
        }
        func client(_ raw: Substring) throws(APIError) -> ClientID {
            guard let id = ClientID(raw.removingPercentEncoding ?? String(raw)) else { throw .invalidClientID(raw) }
            return id
        }

        let parts = Array(segments)
        switch (parts.count, parts.first, parts.count > 1 ? parts[1] : nil) {
        case (4, "v1", "clients") where parts[3] == "events":
            try require(.POST, "POST")
            return (.publishToClient(try client(parts[2])), query)
        case (4, "v1", "topics") where parts[3] == "events":
            try require(.POST, "POST")
            let raw = parts[2]
            guard let topic = TopicName(raw.removingPercentEncoding ?? String(raw)) else { throw .invalidTopic(raw) }
            return (.publishToTopic(topic), query)
        case (2, "v1", "events"):
            try require(.POST, "POST")
            return (.publishBulk, query)
        case (3, "v1", "clients"):
            guard head.method == .GET || head.method == .DELETE else {
                throw .methodNotAllowed(head.method.rawValue, allowed: "GET, DELETE")
            }
            return (.client(try client(parts[2])), query)
        case (2, "v1", "health"):
            try require(.GET, "GET")
            return (.health, query)
        default:
            throw .notFound(path)
        }
    }
}
