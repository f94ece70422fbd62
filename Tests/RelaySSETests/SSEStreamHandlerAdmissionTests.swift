import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import RelayAuth
import RelayCore
import Testing

@testable import RelaySSE

/// Admission on the handler: refusals answer with their status and JSON before any stream
/// starts, and the per-node / per-client counts stay exact as streams close.
@Suite struct SSEStreamHandlerAdmissionTests {
    let loop = EmbeddedEventLoop()
    let hub = Hub<SSEStream>(history: .init(), epoch: 9)
    let counters = StreamCounters()
    let drainSwitch = DrainSwitch()
    let environment: StreamEnvironment

    init() {
        var configuration = SSEServer.Configuration(nodeID: "test")
        configuration.connectionLimits = .init(perNode: 3, perClient: 2)
        configuration.maxTopics = 2
        configuration.maxHeaderSize = 2048
        environment = StreamEnvironment(
            configuration: configuration, hub: hub, replaySource: nil, counters: counters,
            drainSwitch: drainSwitch, logger: Logger(label: "test")
        )
    }

    func open(_ uri: String, headers: HTTPHeaders = [:]) throws -> (EmbeddedChannel, HTTPResponseHead, String) {
        let channel = EmbeddedChannel(loop: loop)
        try channel.pipeline.syncOperations.addHandler(SSEStreamHandler(environment: environment, loop: StreamLoop(eventLoop: loop)))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 4242)).wait()
        try channel.writeInbound(HTTPServerRequestPart.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: uri, headers: headers)))
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
        guard case .head(let head)? = try channel.readOutbound(as: HTTPServerResponsePart.self) else {
            throw ChannelError.inappropriateOperationForState
        }
        var body = ""
        while let part = try? channel.readOutbound(as: HTTPServerResponsePart.self) {
            if case .body(.byteBuffer(let buffer)) = part { body += String(buffer: buffer) }
        }
        return (channel, head, body)
    }

    @Test func drainingRefusesNewStreamsWith503AndRetryAfter() throws {
        drainSwitch.engage()
        let (_, head, body) = try open("/events/42")
        #expect(head.status.code == 503)
        #expect(head.headers["Retry-After"].first != nil)
        #expect(body.contains(#""code":"draining""#))
        #expect(hub.statistics.connections == 0)
        #expect(counters.refusals[.draining] == 1)
    }

    @Test func tooManyTopicsAndTooLargeHeadsAreRefused() throws {
        let (_, topics, topicsBody) = try open("/events/42?topic=a&topic=b&topic=c")
        #expect(topics.status.code == 400 && topicsBody.contains("too_many_topics"))
        let (_, big, bigBody) = try open("/events/42", headers: ["X-Padding": String(repeating: "x", count: 3000)])
        #expect(big.status.code == 431 && bigBody.contains("headers_too_large"))
    }

    @Test func perClientAndPerNodeLimitsStayExactAcrossCloses() throws {
        let (first, ok1, _) = try open("/events/a")
        let (_, ok2, _) = try open("/events/a")
        #expect(ok1.status == .ok && ok2.status == .ok)
        let (_, third, thirdBody) = try open("/events/a")
        #expect(third.status.code == 429 && thirdBody.contains("too_many_streams"))
        let (_, ok3, _) = try open("/events/b")
        #expect(ok3.status == .ok)
        let (_, full, fullBody) = try open("/events/c")
        #expect(full.status.code == 503 && fullBody.contains("node_full"))
        #expect(environment.ledger.total == 3)
        try first.close().wait()
        #expect(environment.ledger.total == 2 && environment.ledger.held(by: ClientID("a")!) == 1)
        let (_, again, _) = try open("/events/c")
        #expect(again.status == .ok)
        #expect(counters.refusals[.clientFull] == 1 && counters.refusals[.nodeFull] == 1)
    }
}
