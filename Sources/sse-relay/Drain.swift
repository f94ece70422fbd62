import ArgumentParser
import Foundation

struct Drain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Drain this node: refuse new streams, leave the cluster, move browsers elsewhere.",
        discussion: """
            New streams get 503 (code draining) with Retry-After; the node leaves the \
            registry so publishers elsewhere stop routing here; open streams are closed over \
            drain.period with a short retry hint, as on SIGTERM, and browsers resume on \
            another node. The process keeps running and its publish socket keeps working. \
            There is no undrain: restart the service to take streams again. \
            Waits until no stream is left (or --timeout). Exit codes: 0 drained; 1 error; \
            3 streams were still open at --timeout (the drain goes on).
            """
    )

    @OptionGroup var socket: SocketOption
    @Option(help: "Seconds to wait for the last stream to close (0: do not wait).")
    var timeout: Double = 120
    @Flag(help: "Print the relay's final JSON answer only.")
    var json = false

    func run() async throws {
        try await runReportingErrors {
            let client = socket.client
            let first = try await client.request(method: .POST, path: "/v1/drain")
            guard first.status == 200 || first.status == 202 else { throw CLIError(first.adminErrorMessage) }
            var answer = first.json ?? [:]
            let node = answer["node"] ?? "?"
            if !json {
                let how = answer["started"] as? Bool == true ? "draining" : "already draining"
                print("node \(node): \(how), \(answer["connections"] ?? "?") streams open, closing over \(answer["drainSeconds"] ?? "?") s")
            }
            let deadline = Date().addingTimeInterval(timeout)
            var lastReported = answer["connections"] as? Int ?? 0
            var body = first.body
            while (answer["connections"] as? Int ?? 0) > 0, Date() < deadline {
                try await Task.sleep(for: .milliseconds(250))
                let response = try await client.request(method: .GET, path: "/v1/drain")
                guard response.status == 200 else { throw CLIError(response.adminErrorMessage) }
                answer = response.json ?? [:]
                body = response.body
                let open = answer["connections"] as? Int ?? 0
                if !json, open != lastReported, open > 0 {
                    print("node \(node): \(open) streams open")
                    lastReported = open
                }
            }
            if json { print(body) }
            let open = answer["connections"] as? Int ?? 0
            if open > 0 {
                throw CLIError("\(open) streams still open after \(timeout) s; the drain goes on", exitCode: 3)
            }
            if !json { print("node \(node): drained, no streams left") }
        }
    }
}
