import ArgumentParser
import Foundation
import RelayApp
import RelayCore

struct Publish: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish one event through a running relay and print its delivery report.",
        discussion: "Exit status: 0 delivered, 2 the client is not connected (the report says whether the event was kept for replay), 1 any other error."
    )

    @OptionGroup var socket: SocketOption
    @Option(help: "Send to this client id.")
    var client: String?
    @Option(help: "Send to every subscriber of this topic.")
    var topic: String?
    @Option(help: "The event name (default: the browser's \"message\").")
    var event: String?
    @Option(help: "A retry: hint for the browser, in milliseconds.")
    var retry: Int?
    @Argument(help: "The event data; '-' or nothing reads it from standard input.")
    var data: String?

    func validate() throws {
        guard (client == nil) != (topic == nil) else {
            throw ValidationError("give exactly one of --client ID or --topic NAME")
        }
    }

    func run() async throws {
        try await runReportingErrors {
            let text: String
            if let data, data != "-" {
                text = data
            } else {
                text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            }
            var body = #"{"data":"# + JSONText.quoted(text)
            if let event { body += #","event":"# + JSONText.quoted(event) }
            if let retry { body += #","retry":"# + String(retry) }
            body += "}"
            let path: String
            if let client {
                path = "/v1/clients/\(Self.escape(client))/events"
            } else {
                path = "/v1/topics/\(Self.escape(topic!))/events"
            }
            let response = try await socket.client.request(method: .POST, path: path, contentType: "application/json", body: body)
            print(response.body)
            switch response.status {
            case 200..<300:
                return
            case 404 where response.json?["error"].flatMap({ ($0 as? [String: Any])?["code"] as? String }) == "client_not_connected":
                throw CLIError(response.errorMessage, exitCode: 2)
            default:
                throw CLIError(response.errorMessage)
            }
        }
    }

    /// Keeps an invalid id intact in the path so the relay's error names it, instead of
    /// the URL breaking first.
    static func escape(_ segment: String) -> String {
        segment.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?#"))) ?? segment
    }
}
