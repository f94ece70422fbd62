import Foundation
import NIOHTTP1
import RelayCore

/// A subscribe request, validated: `GET /events/{clientId}?topic=…&lastEventId=…`.
struct SSERequest: Equatable {
    var client: ClientID
    var topics: [TopicName]
    /// From the `Last-Event-ID` header (what browsers send on reconnect) or, for clients
    /// that cannot set headers, `?lastEventId=`. The header wins: it is newer than a URL
    /// built when the page loaded.
    var lastEventID: String?
    /// `?token=`: browsers' EventSource cannot set an Authorization header. Never logged.
    var token: String? = nil

    static let pathPrefix = "/events/"

    /// Routes and validates a request head; throws the error to answer with.
    static func parse(_ head: HTTPRequestHead) throws(APIError) -> SSERequest {
        guard let components = URLComponents(string: head.uri),
            components.percentEncodedPath.hasPrefix(pathPrefix)
        else {
            throw .notFound(head.uri.prefix(while: { $0 != "?" }))
        }
        let rawID = components.percentEncodedPath.dropFirst(pathPrefix.count)
        // Percent-decoding cannot produce a valid id from an invalid one except by encoding
        // allowed characters, which browsers do not do; validating the raw path segment
        // keeps "/" and "%2F" out alike. Ids are rarely encoded, and Foundation's decoding
        // goes through CoreFoundation (a few percent of a connect's CPU): only when needed.
        let decodedID = rawID.utf8.contains(UInt8(ascii: "%")) ? rawID.removingPercentEncoding ?? String(rawID) : String(rawID)
        guard let client = ClientID(decodedID) else {
            throw .invalidClientID(rawID)
        }
        var topics: [TopicName] = []
        var lastEventID: String?
        var token: String?
        for item in components.queryItems ?? [] {
            switch item.name {
            case "topic":
                let value = item.value ?? ""
                guard let topic = TopicName(value) else { throw .invalidTopic(value) }
                if !topics.contains(topic) { topics.append(topic) }
            case "lastEventId":
                lastEventID = item.value
            case "token":
                token = item.value
            default:
                // Unknown parameters (cache busters, tokens for later) are ignored.
                break
            }
        }
        if let header = head.headers.first(name: "Last-Event-ID") {
            lastEventID = header
        }
        return SSERequest(client: client, topics: topics, lastEventID: lastEventID, token: token)
    }
}
