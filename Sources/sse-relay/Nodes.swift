import ArgumentParser
import Foundation

struct Nodes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the cluster's live nodes with their connection counts (standalone: this node).",
        discussion: """
            Counts of other nodes are as of their last heartbeat (cluster.heartbeat); this \
            node's is live. A draining node has left the registry and is not listed. \
            Exit codes: 0 done; 1 error (relay unreachable, or Redis unreachable: \
            registry_unavailable).
            """
    )

    @OptionGroup var socket: SocketOption
    @Flag(help: "Print the relay's JSON answer.")
    var json = false

    func run() async throws {
        try await runReportingErrors {
            let response = try await socket.client.request(method: .GET, path: "/v1/nodes")
            guard response.status == 200 else { throw CLIError(response.adminErrorMessage) }
            if json {
                print(response.body)
                return
            }
            let nodes = response.json?["nodes"] as? [[String: Any]] ?? []
            let rows = nodes.map { node in
                [
                    "\(node["id"] ?? "?")", "\(node["address"] ?? "?")", "\(node["connections"] ?? "?")",
                    "\(node["started"] ?? "?")", "\(node["version"] ?? "?")", node["draining"] as? Bool == true ? "draining" : "up",
                ]
            }
            printTable(header: ["NODE", "ADDRESS", "CONNECTIONS", "STARTED", "VERSION", "STATE"], rows: rows)
        }
    }
}
