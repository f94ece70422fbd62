import Foundation
import NIOCore
import RelayCore

/// The JSON the publish API answers with. Written by hand (with proper string escaping)
/// because reports are on the bulk hot path and their shape is flat.
enum ResponseJSON {
    /// The answer to one publication, written straight into the response buffer: this is
    /// once per published event, single or bulk.
    static func report(_ report: DeliveryReport, into out: inout ByteBuffer) {
        out.writeStaticString("{")
        if report.brokerUnavailable {
            let blocked = report.forwarded.lazy.compactMap { if case .blocked(let reason) = $0.outcome { reason } else { nil } }.first
            let cause = blocked.map { "RabbitMQ refuses publishes for now (\($0))" } ?? "the broker is unreachable"
            let message = cause + "; the event was not forwarded to " + report.forwarded.map(\.node).joined(separator: ", ")
                + (report.stored ? " (it is kept for replay)" : "")
            out.writeString(#""error":"# + APIError(status: 503, code: "broker_unavailable", message: message).errorObject + ",")
        } else if report.clientNotConnected {
            let message = "client \(report.target.idText) has no open connection"
                + (report.stored ? "; the event is kept for replay" : "")
            out.writeString(#""error":"# + APIError(status: 404, code: "client_not_connected", message: message).errorObject + ",")
        }
        out.writeStaticString(#""id":""#)
        out.writeDecimal(report.id.epoch)
        out.writeStaticString("-")
        out.writeDecimal(report.id.sequence)
        switch report.target {
        case .client(let id):
            out.writeStaticString(#"","client":"#)
            out.writeJSONString(id.rawValue)
        case .topic(let topic):
            out.writeStaticString(#"","topic":"#)
            out.writeJSONString(topic.rawValue)
        }
        out.writeStaticString(#","node":"#)
        out.writeJSONString(report.node)
        out.writeStaticString(#","delivered":"#)
        out.writeDecimal(UInt64(report.delivered))
        out.writeStaticString(#","forwarded":["#)
        for (index, forwarding) in report.forwarded.enumerated() {
            if index > 0 { out.writeStaticString(",") }
            out.writeStaticString(#"{"node":"#)
            out.writeJSONString(forwarding.node)
            out.writeStaticString(forwarding.confirmed ? #","confirmed":true,"status":""# : #","confirmed":false,"status":""#)
            out.writeString(forwarding.outcome.description)
            out.writeStaticString("\"}")
        }
        out.writeStaticString(report.stored ? #"],"stored":true}"# : #"],"stored":false}"#)
    }

    /// A bulk line that could not be published: its 1-based line number and why.
    static func lineError(_ error: APIError, line: Int) -> String {
        #"{"error":"# + error.errorObject + #","line":"# + String(line) + "}"
    }

    /// An event the per-client rate limit dropped: what happened to it, in the shape of an
    /// error so clients that only look for `error` notice too.
    static func rateLimited(_ target: Target, line: Int?) -> String {
        let error = APIError(
            status: 429, code: "rate_limited",
            message: "client \(target.idText) is over events.rate-limit-per-client; the event was dropped")
        var json = #"{"dropped":"rate_limited","error":"# + error.errorObject + #","client":"# + JSONText.quoted(target.idText)
        if let line { json += #","line":"# + String(line) }
        return json + "}"
    }

    /// An event the per-client rate limit held back (`coalesce`): it goes out when the rate
    /// allows unless a newer event for the same client id replaces it first. `replaced`:
    /// an older held-back event was discarded for this one.
    static func deferred(_ target: Target, replaced: Bool, line: Int?) -> String {
        var json = #"{"deferred":"rate_limited","replacedEarlier":"# + String(replaced) + #","client":"# + JSONText.quoted(target.idText)
        if let line { json += #","line":"# + String(line) }
        return json + "}"
    }

    static func connections(_ report: ClientReport) -> String {
        let items = report.connections.map { info in
            #"{"node":"# + JSONText.quoted(info.node)
                + #","since":"# + JSONText.quoted(iso8601(milliseconds: info.sinceMilliseconds))
                + #","peer":"# + JSONText.quoted(info.peer)
                + #","lastEventId":"# + (info.lastEventID.map { JSONText.quoted($0.description) } ?? "null")
                + #","topics":["# + info.topics.map { JSONText.quoted($0.rawValue) }.joined(separator: ",") + "]}"
        }
        return #"{"client":"# + JSONText.quoted(report.client.rawValue) + #","connections":["# + items.joined(separator: ",") + "]"
            + nodeAnswers(report, countName: "connections") + "}"
    }

    static func kicked(_ report: ClientReport) -> String {
        #"{"client":"# + JSONText.quoted(report.client.rawValue) + #","closed":"# + String(report.connections.count)
            + nodeAnswers(report, countName: "closed") + "}"
    }

    /// `,"nodes":[...],"complete":BOOL`: what each node asked said.
    private static func nodeAnswers(_ report: ClientReport, countName: String) -> String {
        let items = report.nodes.map { answer in
            var item = #"{"node":"# + JSONText.quoted(answer.node) + #","status":"# + JSONText.quoted(answer.status)
            switch answer.outcome {
            case .answered(let connections): item += #",""# + countName + #"":"# + String(connections.count)
            case .noAnswer: item += #","message":"no answer within the timeout""#
            case .unreachable(let reason): item += #","message":"# + JSONText.quoted(reason)
            }
            return item + "}"
        }
        return #","nodes":["# + items.joined(separator: ",") + #"],"complete":"# + (report.isComplete ? "true" : "false")
    }

    static func nodes(_ nodes: [NodeInfo]) -> String {
        let items = nodes.map { node in
            #"{"id":"# + JSONText.quoted(node.id)
                + #","address":"# + JSONText.quoted(node.address)
                + #","started":"# + JSONText.quoted(iso8601(milliseconds: node.started))
                + #","epoch":"# + String(node.started)
                + #","version":"# + JSONText.quoted(node.version)
                + #","connections":"# + String(node.connections)
                + #","draining":"# + (node.draining ? "true" : "false") + "}"
        }
        return #"{"nodes":["# + items.joined(separator: ",") + "]}"
    }

    static func drain(_ status: DrainStatus) -> String {
        #"{"node":"# + JSONText.quoted(status.node)
            + #","draining":"# + (status.draining ? "true" : "false")
            + #","started":"# + (status.started ? "true" : "false")
            + #","connections":"# + String(status.connections)
            + #","drainSeconds":"# + String(status.periodSeconds) + "}"
    }

    static func status(_ status: NodeStatus) -> String {
        let stats = status.statistics
        return #"{"status":"ok","node":"# + JSONText.quoted(status.node)
            + #","mode":"# + JSONText.quoted(status.mode)
            + #","version":"# + JSONText.quoted(status.version)
            + #","uptimeSeconds":"# + String(status.uptimeSeconds)
            + #","connections":"# + String(stats.connections)
            + #","clients":"# + String(stats.clients)
            + #","topics":"# + String(stats.topics)
            + #","history":{"events":"# + String(stats.historyEvents) + #","bytes":"# + String(stats.historyBytes) + "}"
            + #","closed":{"# + status.closes.sorted { $0.key.rawValue < $1.key.rawValue }.map { #"""# + $0.key.rawValue + #"":"# + String($0.value) }.joined(separator: ",") + "}"
            + #","backends":{"# + status.backends.sorted { $0.key < $1.key }.map { JSONText.quoted($0.key) + ":" + ($0.value ? #""up""# : #""down""#) }.joined(separator: ",") + "}"
            + #","ready":"# + (status.notReadyReasons.isEmpty ? "true" : "false")
            + #","draining":"# + (status.draining ? "true" : "false")
            + #","notReady":["# + status.notReadyReasons.map(JSONText.quoted).joined(separator: ",") + "]"
            + #","lastEventId":""# + stats.lastEventID.description + #""}"#
    }

    private static func iso8601(milliseconds: Int64) -> String {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
            .formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }
}

extension Target {
    var idText: String {
        switch self {
        case .client(let id): id.rawValue
        case .topic(let topic): topic.rawValue
        }
    }
}
