import ArgumentParser
import Foundation
import RelayApp

/// `--node-only` and `--timeout`, shared by `clients show` and `kick`, and what their exit
/// codes mean.
struct AdminOptions: ParsableArguments {
    @Flag(help: "Ask this node only, not the cluster.")
    var nodeOnly = false
    @Option(help: "Seconds to wait for other nodes' answers (0.1 ... 60).")
    var timeout: Double = 3

    var query: String {
        "?scope=\(nodeOnly ? "node" : "cluster")&timeout=\(timeout)"
    }

    static let exitCodes = """
        Exit codes: 0 done, every node asked answered; 1 error (the relay could not be \
        reached or refused the request; the message names the cause); 3 partial: some node \
        did not answer within --timeout or could not be reached (listed on stderr).
        """

    /// Nodes that did not answer, on stderr (stdout stays what was found).
    static func printMissingNodes(_ answer: [String: Any]) {
        for node in answer["nodes"] as? [[String: Any]] ?? [] where node["status"] as? String != "answered" {
            let line = "warning: node \(node["node"] ?? "?") \(node["status"] ?? "?"): \(node["message"] ?? "")\n"
            FileHandle.standardError.write(Data(line.utf8))
        }
    }

    static func requireComplete(_ answer: [String: Any]) throws {
        if answer["complete"] as? Bool == false {
            throw CLIError("not every node answered; the result above is partial", exitCode: 3)
        }
    }
}

extension PublishClient.Response {
    /// The error's message and its stable code, for the admin commands.
    var adminErrorMessage: String {
        guard let error = json?["error"] as? [String: Any], let code = error["code"] as? String else { return errorMessage }
        return "\(errorMessage) [\(code)]"
    }
}

/// Left-aligned columns, two spaces apart.
func printTable(header: [String], rows: [[String]]) {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
    for row in all {
        let cells = row.enumerated().map { index, cell in
            index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
        }
        print(cells.joined(separator: "  "))
    }
}
