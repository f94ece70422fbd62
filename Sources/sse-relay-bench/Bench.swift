import ArgumentParser
import Foundation
import NIOCore
import NIOPosix

@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sse-relay-bench",
        abstract: "Load generator for a running sse-relay (or nginx+nchan, Pushpin): opens SSE connections, publishes, prints figures.",
        discussion: """
            Runs against an already-running server. Scenarios: idle (connect and measure memory), \
            targeted-rate, targeted-max, bulk, broadcast, churn; all of them in sequence by default. \
            Tests/bench/suite.sh starts the servers and runs it against each.
            """
    )

    @Option(help: "The server under test: relay, nchan (nginx) or pushpin.")
    var target = Target.relay

    @Option(help: "The server's SSE listener, http://IP:PORT.")
    var url = "http://127.0.0.1:18080"

    @Option(help: "nchan/Pushpin: their HTTP publish endpoint, http://IP:PORT (the relay publishes over --socket).")
    var publishURL: String?

    @Option(help: "Another process of the server (nginx workers, Pushpin's processes); memory and CPU are summed over all.")
    var serverPid: [Int32] = []

    @Option(help: "Churn scenario: connections being closed and reopened at once.")
    var churnWorkers = 100

    @Option(help: "Number of SSE connections.")
    var connections = 10_000

    @Option(help: "Event loop threads for the benchmark (keep a core for the relay).")
    var threads = 1

    @Option(help: "The relay's pid, for memory and CPU from /proc.")
    var relayPid: Int32?

    @Option(help: "The relay's publish API Unix socket.")
    var socket: String?

    @Option(help: "Scenario to run; repeat for several. Default: all, in order.")
    var scenario: [Scenario] = []

    @Option(help: "Events/s for targeted-rate (default 5000) and broadcast (default 10).")
    var rate: Double?

    @Option(help: "Events/s for broadcast when running all scenarios (overrides --rate there).")
    var broadcastRate: Double?

    @Option(help: "Seconds of publishing per scenario.")
    var duration = 10.0

    @Option(help: "Bytes of event data (holds the t= timestamp; at least 22).")
    var payload = 64

    @Option(help: "Lines per NDJSON request in the bulk scenario.")
    var batch = 500

    @Option(help: "Requests in flight per publisher connection.")
    var pipeline = 32

    @Option(help: """
        Requests in flight per publisher in the bulk scenario. Each carries --batch events, so a \
        deep pipeline only adds queueing latency.
        """)
    var bulkPipeline = 4

    @Option(help: "Publisher connections to the Unix socket.")
    var publishers = 1

    @Option(help: "Event name to publish with (optional).")
    var eventName: String?

    @Option(help: "Topic for the broadcast scenario.")
    var topic = "bench"

    @Option(help: "Client id prefix; ids are PREFIX0 … PREFIX(N-1).")
    var clientPrefix = "bench-"

    @Option(help: "File of subscriber tokens, one per line, for PREFIX0, PREFIX1, … (sent as Authorization: Bearer), to measure a relay with auth.")
    var tokens: String?

    @Option(help: "SSE connects in progress at once.")
    var connectConcurrency = 500

    @Option(help: "Seconds to wait for a connect and for its first bytes.")
    var connectTimeout = 10.0

    @Option(help: "Local source addresses 127.0.0.2 … to spread connections over (0: let the kernel choose).")
    var sourceAddresses = 253

    @Option(help: "Seconds to keep waiting for deliveries after publishing ends.")
    var settleTimeout = 30.0

    @Option(help: "Seconds without a new delivery after which waiting stops.")
    var settleQuiet = 2.0

    @Option(help: "Write all figures as JSON to this path.")
    var json: String?

    func validate() throws {
        let positive = [connections, threads, pipeline, bulkPipeline, publishers, batch, connectConcurrency]
        guard positive.allSatisfy({ $0 > 0 }), duration > 0 else {
            throw ValidationError("counts and durations must be positive")
        }
        if let eventName, eventName.contains(where: { $0 == "\"" || $0 == "\\" || $0.isNewline }) {
            throw ValidationError("--event-name must not need JSON escaping")
        }
        guard (0...253).contains(sourceAddresses) else {
            throw ValidationError("--source-addresses must be 0...253")
        }
    }

    mutating func run() async throws {
        var scenarios = scenario.isEmpty ? Scenario.allCases : scenario
        if !target.hasBulk && scenarios.contains(.bulk) {
            print("note: \(target.rawValue) has no batch publish call; skipping bulk")
            scenarios.removeAll { $0 == .bulk }
        }
        let publishEndpoint: PublishEndpoint
        switch (target, socket, publishURL) {
        case (.relay, let path?, _):
            publishEndpoint = .unixSocket(path)
        case (.nchan, _, let publish?), (.pushpin, _, let publish?):
            publishEndpoint = .tcp(try Self.parse(url: publish))
        default:
            publishEndpoint = .unixSocket("")
            if scenarios.contains(where: \.publishes) {
                throw ValidationError(target == .relay
                    ? "--socket PATH is needed for the publishing scenarios"
                    : "--publish-url http://IP:PORT is needed for the publishing scenarios")
            }
        }
        let serverPids = (relayPid.map { [$0] } ?? []) + serverPid
        let openFiles = ProcessStats.raiseOpenFileLimit()
        if openFiles < connections + 64 {
            print("WARNING: open-file limit \(openFiles) is below \(connections) connections")
        }
        let server = try Self.parse(url: url)
        let hostHeader = url.dropFirst("http://".count).split(separator: "/").first.map(String.init) ?? url
        var bearerTokens: [String] = []
        if let tokens {
            guard let text = try? String(contentsOfFile: tokens, encoding: .utf8) else {
                throw ValidationError("--tokens: cannot read \(tokens)")
            }
            bearerTokens = text.split(whereSeparator: \.isNewline).map(String.init)
        }

        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let loops = Array(group.makeIterator())
        let board = try await StatsBoard.make(loops: loops)
        let connector = SSEConnector(
            server: server,
            localAddresses: try Self.localAddresses(count: sourceAddresses, server: server),
            board: board,
            concurrency: connectConcurrency,
            timeout: .nanoseconds(Int64(connectTimeout * 1e9))
        )
        let factory = RequestFactory(
            target: target, payload: payload, clientPrefix: clientPrefix, clientCount: connections,
            eventName: eventName, topic: topic, hostHeader: "localhost"
        )
        let runner = ScenarioRunner(
            board: board, factory: factory, publishEndpoint: publishEndpoint, publishers: publishers,
            pipeline: pipeline, bulkPipeline: bulkPipeline, serverPids: serverPids,
            settleTimeout: settleTimeout, settleQuiet: settleQuiet
        )
        var figures = BenchFigures(
            target: target.rawValue, url: url, connections: connections, threads: threads, payloadBytes: factory.payload,
            pipeline: pipeline, bulkPipeline: bulkPipeline, batch: batch, publishers: publishers,
            openFileLimit: openFiles
        )
        print("sse-relay-bench: \(target.rawValue) at \(url), \(connections) connections, \(threads) thread(s), "
            + "open-file limit \(openFiles), payload \(factory.payload) B"
            + (serverPids.isEmpty ? "" : ", server pid(s) \(serverPids.map(String.init).joined(separator: " "))"))

        var channels: [any Channel] = []
        var connectedTopic: String?? = .none  // .none: not connected; .some(nil): targeted only
        var connectedTemplate = SSERequestTemplate(
            target: target, hostHeader: hostHeader, clientPrefix: clientPrefix, topic: nil
        )

        func connectAll(topic: String?) async throws {
            if !channels.isEmpty {
                await SSEConnector.closeAll(channels)
                channels = []
                // Let the relay notice the closes before measuring its RSS again.
                try await Task.sleep(for: .seconds(1))
            }
            print("\n== connect \(connections) SSE connections" + (topic.map { " to topic \($0)" } ?? "")
                + " (\(min(connectConcurrency, connections)) at a time, \(max(1, sourceAddresses)) source address(es))")
            let rssBefore = ProcessStats.memoryKiB(pids: serverPids)
            let cpu = CPUWindow(serverPids: serverPids)
            let template = SSERequestTemplate(
                target: target, hostHeader: hostHeader, clientPrefix: clientPrefix, topic: topic, tokens: bearerTokens
            )
            let outcome = await connector.connect(count: connections, template: template)
            let usage = cpu.finish()
            channels = outcome.channels
            connectedTopic = .some(topic)
            connectedTemplate = template
            // The relay may still be finishing the last writes; give it a moment before reading RSS.
            try await Task.sleep(for: .milliseconds(500))
            let rssAfter = ProcessStats.memoryKiB(pids: serverPids)
            var perConnection: Double?
            if let rssBefore, let rssAfter, !outcome.channels.isEmpty {
                perConnection = Double(rssAfter - rssBefore) / Double(outcome.channels.count)
            }
            let connect = ConnectFigures(
                topic: topic,
                requested: connections,
                established: outcome.channels.count,
                failures: outcome.failures,
                failureReasons: outcome.failureReasons,
                seconds: outcome.seconds,
                connectsPerSecond: outcome.seconds > 0 ? Double(outcome.channels.count) / outcome.seconds : 0,
                serverRSSBeforeKiB: rssBefore,
                serverRSSAfterKiB: rssAfter,
                serverRSSPerConnectionKiB: perConnection,
                benchCPUPercent: usage.benchPercent,
                serverCPUPercent: usage.serverPercent
            )
            Report.printConnect(connect)
            if topic == nil {
                figures.connect = connect
            } else {
                figures.topicConnect = connect
            }
        }

        do {
            for scenario in scenarios {
                let wantedTopic: String? = scenario == .broadcast ? topic : nil
                // Churn works on whatever is open.
                if connectedTopic != .some(wantedTopic) && !(scenario == .churn && !channels.isEmpty) {
                    try await connectAll(topic: wantedTopic)
                }
                if scenario == .churn {
                    print("\n== churn: close and reopen connections, \(churnWorkers) at a time, "
                        + "\(Report.fixed(duration, 0)) s")
                    let churn = ChurnRunner(connector: connector, serverPids: serverPids, workers: churnWorkers)
                    let (result, reopened) = await churn.run(
                        channels: channels, template: connectedTemplate, duration: duration
                    )
                    channels = reopened
                    Report.printChurn(result)
                    figures.churn = result
                    continue
                }
                guard scenario.publishes else { continue }
                let mode: PublishPlan.Mode
                let description: String
                switch scenario {
                case .idle, .churn:
                    continue
                case .targetedRate:
                    let perSecond = rate ?? 5000
                    mode = .targetedRate(perSecond)
                    description = "targeted events, one per request, \(Report.fixed(perSecond, 0))/s to random clients"
                case .targetedMax:
                    mode = .targetedMax
                    description = "targeted events, one per request, as fast as possible"
                case .bulk:
                    mode = .bulk(batch: batch)
                    description = "NDJSON batches of \(batch) targeted events, as fast as possible"
                case .broadcast:
                    let perSecond = broadcastRate ?? rate ?? 10
                    mode = .topicRate(perSecond)
                    description = "topic events to \(topic), \(Report.fixed(perSecond, 0))/s"
                }
                let depth = scenario == .bulk ? bulkPipeline : pipeline
                print("\n== \(scenario.rawValue): \(description); \(Report.fixed(duration, 0)) s, "
                    + "pipeline \(depth), \(publishers) publisher(s)")
                let result = try await runner.run(
                    name: scenario.rawValue, description: description, mode: mode, duration: duration
                )
                Report.printScenario(result)
                figures.scenarios.append(result)
            }
        } catch {
            print("ERROR: \(error)")
            await SSEConnector.closeAll(channels)
            try await group.shutdownGracefully()
            if let json { try Report.writeJSON(figures, to: json) }
            throw ExitCode.failure
        }

        await SSEConnector.closeAll(channels)
        try await group.shutdownGracefully()
        if let json {
            try Report.writeJSON(figures, to: json)
            print("\nfigures written to \(json)")
        }
    }

    private static func parse(url: String) throws -> SocketAddress {
        guard url.hasPrefix("http://") else { throw BenchError.badURL(url) }
        let authority = url.dropFirst("http://".count).split(separator: "/").first ?? ""
        guard let colon = authority.lastIndex(of: ":"), let port = Int(authority[authority.index(after: colon)...])
        else { throw BenchError.badURL(url) }
        var host = String(authority[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") {
            host = String(host.dropFirst().dropLast())
        }
        if host == "localhost" { host = "127.0.0.1" }
        do {
            return try SocketAddress(ipAddress: host, port: port)
        } catch {
            throw BenchError.badURL(url)
        }
    }

    /// 127.0.0.2 … for a loopback IPv4 server; any other server gets the kernel's choice.
    private static func localAddresses(count: Int, server: SocketAddress) throws -> [SocketAddress] {
        guard count > 0, case .v4 = server, server.ipAddress?.hasPrefix("127.") == true else { return [] }
        return try (0..<count).map { try SocketAddress(ipAddress: "127.0.0.\(2 + $0)", port: 0) }
    }
}
