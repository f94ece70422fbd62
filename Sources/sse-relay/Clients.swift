import ArgumentParser
import Foundation
import RelayApp

struct Clients: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect connected clients.",
        subcommands: [Show.self]
    )

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show every stream of a client, on every node that holds it.",
            discussion: AdminOptions.exitCodes
        )

        @OptionGroup var socket: SocketOption
        @OptionGroup var admin: AdminOptions
        @Flag(help: "Print the relay's JSON answer.")
        var json = false
        @Argument(help: "The client id.")
        var id: String

        func run() async throws {
            try await runReportingErrors {
                let response = try await socket.client.request(method: .GET, path: "/v1/clients/\(Publish.escape(id))" + admin.query)
                guard response.status == 200 else { throw CLIError(response.adminErrorMessage) }
                let answer = response.json ?? [:]
                if json {
                    print(response.body)
                } else {
                    let connections = answer["connections"] as? [[String: Any]] ?? []
                    print("client \(id): \(connections.count) connection\(connections.count == 1 ? "" : "s")")
                    let rows = connections.map { connection in
                        [
                            "\(connection["node"] ?? "?")", "\(connection["since"] ?? "?")", "\(connection["peer"] ?? "?")",
                            (connection["lastEventId"] as? String) ?? "-",
                            (connection["topics"] as? [String] ?? []).joined(separator: ","),
                        ]
                    }
                    if !rows.isEmpty {
                        printTable(header: ["NODE", "SINCE", "PEER", "LAST EVENT ID", "TOPICS"], rows: rows)
                    }
                    AdminOptions.printMissingNodes(answer)
                }
                try AdminOptions.requireComplete(answer)
            }
        }
    }
}

struct Kick: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Close every stream of a client on every node (browsers reconnect and resume).",
        discussion: AdminOptions.exitCodes
    )

    @OptionGroup var socket: SocketOption
    @OptionGroup var admin: AdminOptions
    @Flag(help: "Print the relay's JSON answer.")
    var json = false
    @Argument(help: "The client id.")
    var id: String

    func run() async throws {
        try await runReportingErrors {
            let response = try await socket.client.request(method: .DELETE, path: "/v1/clients/\(Publish.escape(id))" + admin.query)
            guard response.status == 200 else { throw CLIError(response.adminErrorMessage) }
            let answer = response.json ?? [:]
            if json {
                print(response.body)
            } else {
                let closed = answer["closed"] as? Int ?? 0
                print("closed \(closed) connection\(closed == 1 ? "" : "s") of client \(id)")
                for node in answer["nodes"] as? [[String: Any]] ?? [] where node["status"] as? String == "answered" {
                    print("  node \(node["node"] ?? "?"): closed \(node["closed"] ?? 0)")
                }
                AdminOptions.printMissingNodes(answer)
            }
            try AdminOptions.requireComplete(answer)
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
