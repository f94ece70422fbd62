import ArgumentParser
import Foundation
import RelayApp

/// `--socket`, shared by every command that talks to a running relay.
struct SocketOption: ParsableArguments {
    @Option(help: "The relay's publish socket (default: $SSE_RELAY_PUBLISH_SOCKET or /run/sse-relay/publish.sock).")
    var socket: String?

    var client: PublishClient {
        PublishClient(socketPath: socket ?? ProcessInfo.processInfo.environment["SSE_RELAY_PUBLISH_SOCKET"] ?? "/run/sse-relay/publish.sock")
    }
}

extension PublishClient.Response {
    /// The `message` of an error body, or the body itself.
    var errorMessage: String {
        guard let data = body.data(using: .utf8),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let error = object["error"] as? [String: Any],
            let message = error["message"] as? String
        else { return body.isEmpty ? "HTTP \(status)" : body }
        return message
    }

    var json: [String: Any]? {
        body.data(using: .utf8).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
    }
}

/// Runs a CLI body, turning any failure into one clear line on stderr and an exit code.
func runReportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as CLIError {
        FileHandle.standardError.write(Data("error: \(error.description)\n".utf8))
        throw ExitCode(error.exitCode)
    } catch let error as PublishClient.Failure {
        FileHandle.standardError.write(Data("error: \(error.description)\n".utf8))
        throw ExitCode(1)
    }
}
