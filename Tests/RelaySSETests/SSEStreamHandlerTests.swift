import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import RelayAuth
import RelayCore
import Testing

@testable import RelaySSE

/// The subscriber handler on an embedded channel: requests in as parsed HTTP parts,
/// responses out as parts, the event loop advanced by hand.
@Suite struct SSEStreamHandlerTests {
    let loop = EmbeddedEventLoop()
    let hub = Hub<SSEStream>(history: .init(), epoch: 9)
    let counters = StreamCounters()
    let drainSwitch = DrainSwitch()
    var configuration = SSEServer.Configuration(nodeID: "test", keepAlive: .seconds(15), bufferLimit: 4096)

    func makeChannel() throws -> EmbeddedChannel {
        let streamLoop = StreamLoop(eventLoop: loop)
        let channel = EmbeddedChannel(loop: loop)
        try channel.pipeline.syncOperations.addHandler(
            SSEStreamHandler(
                environment: StreamEnvironment(configuration: configuration, hub: hub, replaySource: nil, counters: counters, drainSwitch: drainSwitch, logger: Logger(label: "test")),
                loop: streamLoop
            )
        )
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 4242)).wait()
        return channel
    }

    func request(_ channel: EmbeddedChannel, _ uri: String, method: HTTPMethod = .GET, headers: HTTPHeaders = [:]) throws {
        try channel.writeInbound(HTTPServerRequestPart.head(HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: headers)))
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
    }

    func responseHead(_ channel: EmbeddedChannel) throws -> HTTPResponseHead? {
        guard case .head(let head)? = try channel.readOutbound(as: HTTPServerResponsePart.self) else { return nil }
        return head
    }

    /// Every byte a stream wrote so far (after its head, a stream writes raw frames past
    /// the removed HTTP encoder).
    func body(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
            text += String(buffer: buffer)
        }
        return text
    }

    /// The body of a non-stream answer (errors, preflights), written as HTTP parts.
    func answerBody(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while let part = try channel.readOutbound(as: HTTPServerResponsePart.self) {
            if case .body(.byteBuffer(let buffer)) = part { text += String(buffer: buffer) }
        }
        return text
    }

    func publish(_ data: String, to client: String) -> Hub<SSEStream>.Receipt {
        hub.publish([Publication(target: .client(ClientID(client)!), event: Event(data: data))])[0]
    }

    @Test func streamStartsWithHeadersAndCursorThenReceivesEvents() throws {
        let channel = try makeChannel()
        try request(channel, "/events/42?topic=news")
        let head = try #require(try responseHead(channel))
        #expect(head.status == .ok)
        #expect(head.headers["Content-Type"] == ["text/event-stream; charset=utf-8"])
        #expect(head.headers["Cache-Control"] == ["no-cache, no-transform"])
        #expect(head.headers["X-Accel-Buffering"] == ["no"])
        #expect(try body(channel) == "retry: 2000\n: sse-relay stream open\nid: 9-0\n\n")

        #expect(publish("hello", to: "42").delivered == 1)
        loop.run()
        #expect(try body(channel) == "id: 9-1\ndata: hello\n\n")
        #expect(hub.subscribers(of: ClientID("42")!).first?.info.peer == "127.0.0.1:4242")
    }

    @Test(arguments: [
        ("/events/bad%20id", HTTPMethod.GET, 400, "invalid_client_id"),
        ("/events/", .GET, 400, "invalid_client_id"),
        ("/events/42?topic=a/b", .GET, 400, "invalid_topic"),
        ("/other", .GET, 404, "not_found"),
        ("/events/42", .POST, 405, "method_not_allowed"),
    ])
    func badRequestsGetAJSONError(uri: String, method: HTTPMethod, status: Int, code: String) throws {
        let channel = try makeChannel()
        try request(channel, uri, method: method)
        let head = try #require(try responseHead(channel))
        #expect(Int(head.status.code) == status)
        #expect(head.headers["Content-Type"] == ["application/json"])
        #expect(try answerBody(channel).contains(#""code":"\#(code)""#))
        #expect(hub.statistics.connections == 0)
    }

    @Test func drainingNodeRefusesNewStreamsWithRetryAfter() throws {
        drainSwitch.engage()
        let channel = try makeChannel()
        try request(channel, "/events/42")
        let head = try #require(try responseHead(channel))
        #expect(head.status == .serviceUnavailable)
        #expect(head.headers["Retry-After"] == ["2"])
        #expect(try answerBody(channel).contains(#""code":"draining""#))
        #expect(hub.statistics.connections == 0)
    }

    @Test func lastEventIDIsTheLastEventWritten() throws {
        let channel = try makeChannel()
        try request(channel, "/events/42", headers: ["Last-Event-ID": "9-0"])
        _ = try responseHead(channel)
        let stream = try #require(hub.subscribers(of: ClientID("42")!).first)
        // `describe()` reads this on the stream's loop; the embedded loop is this thread.
        #expect(stream.handler.value.lastEventID == EventID(epoch: 9, sequence: 0))
        let receipt = publish("one", to: "42")
        loop.run()
        #expect(stream.handler.value.lastEventID == receipt.id)
        #expect(stream.info.lastEventID == nil)
    }

    @Test func preflightAnswersWithConfiguredOrigin() throws {
        var suite = self
        suite.configuration.cors = CORSPolicy(origins: ["https://app.example"])
        let channel = try suite.makeChannel()
        try suite.request(channel, "/events/42", method: .OPTIONS, headers: ["Origin": "https://app.example"])
        let head = try #require(try suite.responseHead(channel))
        #expect(head.status == .noContent)
        #expect(head.headers["Access-Control-Allow-Origin"] == ["https://app.example"])
        #expect(head.headers["Access-Control-Allow-Headers"].first?.contains("Last-Event-ID") == true)
    }

    @Test func lastEventIDHeaderReplaysWhatWasMissed() throws {
        _ = publish("one", to: "42")
        _ = publish("two", to: "42")
        let channel = try makeChannel()
        try request(channel, "/events/42", headers: ["Last-Event-ID": "9-1"])
        _ = try responseHead(channel)
        #expect(try body(channel) == "retry: 2000\n: sse-relay stream open\n\nid: 9-2\ndata: two\n\n")
    }

    @Test func clientThatStopsReadingIsClosedAsSlowConsumer() throws {
        let channel = try makeChannel()
        try request(channel, "/events/42")
        _ = try responseHead(channel)
        _ = try body(channel)
        // A real channel announces the change; the handler goes by the announcement.
        channel.isWritable = false
        channel.pipeline.fireChannelWritabilityChanged()
        let payload = String(repeating: "x", count: 1000)
        for _ in 0..<3 { _ = publish(payload, to: "42") }
        loop.run()
        #expect(channel.isActive, "3 KB queued is under the 4 KB limit")
        for _ in 0..<3 { _ = publish(payload, to: "42") }
        loop.run()
        #expect(!channel.isActive)
        #expect(hub.statistics.connections == 0)
        #expect(counters.closes[.slowConsumer] == 1)
    }

    @Test func queuedFramesFollowWhenTheSocketDrains() throws {
        let channel = try makeChannel()
        try request(channel, "/events/42")
        _ = try responseHead(channel)
        _ = try body(channel)
        // A real channel announces the change; the handler goes by the announcement.
        channel.isWritable = false
        channel.pipeline.fireChannelWritabilityChanged()
        _ = publish("a", to: "42")
        _ = publish("b", to: "42")
        loop.run()
        #expect(try body(channel) == "")
        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
        #expect(try body(channel) == "id: 9-1\ndata: a\n\nid: 9-2\ndata: b\n\n")
    }

    @Test func kickEndsTheStreamAndDeregisters() throws {
        let channel = try makeChannel()
        try request(channel, "/events/42")
        for stream in hub.subscribers(of: ClientID("42")!) { stream.close(reason: .kicked) }
        loop.run()
        #expect(!channel.isActive)
        #expect(hub.statistics.connections == 0)
    }

    /// The request deadline runs from the connect and from each answer, covers a head that
    /// never ends as well as silence, and stops once the stream is open.
    @Test func requestDeadlineClosesSilentAndUnfinishedRequestsButNotStreams() throws {
        let later = { (seconds: Int64) in NIODeadline.now() + .seconds(seconds) }
        let handler = { (channel: EmbeddedChannel) in try channel.pipeline.syncOperations.handler(type: SSEStreamHandler.self) }

        // Before the connect, so "9 s after it" holds however slow the machine is.
        let beforeConnect = NIODeadline.now()
        let silent = try makeChannel()
        try handler(silent).checkRequestDeadline(now: beforeConnect + .seconds(9))
        #expect(silent.isActive)
        try handler(silent).checkRequestDeadline(now: later(11))
        #expect(!silent.isActive)

        let unfinished = try makeChannel()
        try unfinished.writeInbound(HTTPServerRequestPart.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/events/1")))
        try handler(unfinished).checkRequestDeadline(now: later(11))
        #expect(!unfinished.isActive)

        let stream = try makeChannel()
        try request(stream, "/events/2")
        try handler(stream).checkRequestDeadline(now: later(100))
        #expect(stream.isActive)
    }

    @Test func requestDeadlineStartsAgainAfterAKeptAliveAnswer() throws {
        var suite = self
        suite.configuration.cors = CORSPolicy(origins: ["https://app.example"])
        let channel = try suite.makeChannel()
        try suite.request(channel, "/events/42", method: .OPTIONS, headers: ["Origin": "https://app.example"])
        #expect(try suite.responseHead(channel)?.status == .noContent)
        #expect(channel.isActive)
        try channel.pipeline.syncOperations.handler(type: SSEStreamHandler.self).checkRequestDeadline(now: .now() + .seconds(11))
        #expect(!channel.isActive, "the kept-alive connection owes its next request within the timeout")
    }

    @Test func sweepTickIsAQuarterOfTheKeepAliveWithinBounds() {
        #expect(SSEServer.sweepTick(keepAlive: .seconds(15)) == .seconds(1))
        #expect(SSEServer.sweepTick(keepAlive: .seconds(15), requestTimeout: .milliseconds(500)) == .milliseconds(125))
        #expect(SSEServer.sweepTick(keepAlive: .milliseconds(400)) == .milliseconds(100))
        #expect(SSEServer.sweepTick(keepAlive: .milliseconds(10)) == .milliseconds(50))
    }
}
