import ArgumentParser
import Foundation
import RelayApp

struct Clients: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect connected clients.",
        subcommands: [Show.self]
    )

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show where a client is connected.")

        @OptionGroup var socket: SocketOption
        @Flag(help: "Print the relay's JSON answer.")
        var json = false
        @Argument(help: "The client id.")
        var id: String

        func run() async throws {
            try await runReportingErrors {
                let response = try await socket.client.request(method: .GET, path: "/v1/clients/\(Publish.escape(id))")
                guard response.status == 200 else { throw CLIError(response.errorMessage) }
                if json {
                    print(response.body)
                    return
                }
                let connections = response.json?["connections"] as? [[String: Any]] ?? []
                print("client \(id): \(connections.count) connection\(connections.count == 1 ? "" : "s")")
                for connection in connections {
                    let topics = (connection["topics"] as? [String] ?? []).joined(separator: ",")
                    var line = "  node \(connection["node"] ?? "?")  since \(connection["since"] ?? "?")  peer \(connection["peer"] ?? "?")"
                    if !topics.isEmpty { line += "  topics \(topics)" }
                    print(line)
                }
            }
        }
    }
}

struct Kick: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Close every stream of a client (browsers reconnect and resume).")

    @OptionGroup var socket: SocketOption
    @Argument(help: "The client id.")
    var id: String

    func run() async throws {
        try await runReportingErrors {
            let response = try await socket.client.request(method: .DELETE, path: "/v1/clients/\(Publish.escape(id))")
            guard response.status == 200 else { throw CLIError(response.errorMessage) }
            let closed = response.json?["closed"] as? Int ?? 0
            print("closed \(closed) connection\(closed == 1 ? "" : "s") of client \(id)")
        }
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the state of a running relay.")

    @OptionGroup var socket: SocketOption
    @Flag(help: "Print the relay's JSON answer.")
    var json = false

    func run() async throws {
        try await runReportingErrors {
            let response = try await socket.client.request(method: .GET, path: "/v1/health")
            guard response.status == 200 else { throw CLIError(response.errorMessage) }
            if json {
                print(response.body)
                return
            }
            let status = response.json ?? [:]
            let history = status["history"] as? [String: Any] ?? [:]
            var lines = [
                "node         \(status["node"] ?? "?") (\(status["mode"] ?? "?"), version \(status["version"] ?? "?"))",
                "status       \(status["status"] ?? "?"), up \(status["uptimeSeconds"] ?? "?") s",
                "connections  \(status["connections"] ?? "?") (\(status["clients"] ?? "?") clients, \(status["topics"] ?? "?") topics)",
            ]
            if let backends = status["backends"] as? [String: String], !backends.isEmpty {
                lines.append("backends     " + backends.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            } else {
                lines.append("history      \(history["events"] ?? "?") events, \(history["bytes"] ?? "?") bytes, last id \(status["lastEventId"] ?? "?")")
            }
            print(lines.joined(separator: "\n"))
        }
    }
}
