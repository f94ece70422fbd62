import ArgumentParser

@main
struct SSERelayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sse-relay",
        abstract: "Holds browsers' Server-Sent-Events streams and relays events to them from local applications.",
        subcommands: [Serve.self, Publish.self, Clients.self, Kick.self, Nodes.self, Drain.self, Status.self],
        defaultSubcommand: nil
    )
}
