import NIOCore
import NIOHTTP1

/// Disconnects peers that start a request and never finish it (slowloris), and keep-alive
/// connections that stay silent too long.
///
/// A request is timed from its first byte to the end of its body: `requestTimeout`. Between
/// requests (and right after connecting) a connection may stay silent for `idleTimeout`.
/// While the relay works on an answer nothing is timed: that is the relay's time, not the
/// peer's.
///
/// Two handlers share one instance because no single position in the pipeline sees both
/// the raw bytes (before the HTTP decoder: a request head trickling in produces no parts)
/// and the request and response boundaries (after it). Both run on the channel's event
/// loop, so the shared state needs no lock.
public final class RequestTimeout {
    private enum Phase {
        case idle
        case receiving
        case responding
    }

    private let requestTimeout: TimeAmount
    private let idleTimeout: TimeAmount
    private var phase = Phase.idle
    /// When the current phase runs out; `nil` while responding.
    private var deadline: NIODeadline?
    private var timer: Scheduled<Void>?
    private weak var channel: (any Channel)?

    public init(requestTimeout: TimeAmount, idleTimeout: TimeAmount) {
        self.requestTimeout = requestTimeout
        self.idleTimeout = idleTimeout
    }

    /// The handler to put first in the pipeline, before the HTTP decoder.
    public var byteWatcher: ByteWatcher { ByteWatcher(timeout: self) }
    /// The handler to put after the HTTP server pipeline handler.
    public var partWatcher: PartWatcher { PartWatcher(timeout: self) }

    /// Phases change twice per request, so a change only moves the deadline: scheduling
    /// and cancelling a timer each time cost about 5% of a publish in profiles. One timer
    /// per connection checks the deadline instead, waking at least every `requestTimeout`
    /// so that a request starting during a long idle wait is still cut off on time.
    private func enter(_ phase: Phase, on eventLoop: any EventLoop) {
        self.phase = phase
        switch phase {
        case .idle: deadline = .now() + idleTimeout
        case .receiving: deadline = .now() + requestTimeout
        case .responding: deadline = nil
        }
        if timer == nil, deadline != nil { arm(on: eventLoop) }
    }

    private func arm(on eventLoop: any EventLoop) {
        guard let deadline else {
            timer = nil
            return
        }
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        timer = eventLoop.scheduleTask(deadline: min(deadline, .now() + requestTimeout)) {
            bound.value.check(on: eventLoop)
        }
    }

    private func check(on eventLoop: any EventLoop) {
        timer = nil
        if let deadline, deadline <= .now() {
            channel?.close(promise: nil)
        } else {
            arm(on: eventLoop)
        }
    }

    private func stop() {
        timer?.cancel()
        timer = nil
        deadline = nil
    }

    public final class ByteWatcher: ChannelInboundHandler, RemovableChannelHandler {
        public typealias InboundIn = ByteBuffer
        public typealias InboundOut = ByteBuffer
        private let timeout: RequestTimeout

        fileprivate init(timeout: RequestTimeout) { self.timeout = timeout }

        public func handlerAdded(context: ChannelHandlerContext) {
            timeout.channel = context.channel
            if context.channel.isActive { timeout.enter(.idle, on: context.eventLoop) }
        }

        public func channelActive(context: ChannelHandlerContext) {
            timeout.enter(.idle, on: context.eventLoop)
            context.fireChannelActive()
        }

        public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if case .idle = timeout.phase { timeout.enter(.receiving, on: context.eventLoop) }
            context.fireChannelRead(data)
        }

        public func channelInactive(context: ChannelHandlerContext) {
            timeout.stop()
            context.fireChannelInactive()
        }

        public func handlerRemoved(context: ChannelHandlerContext) {
            timeout.stop()
        }
    }

    public final class PartWatcher: ChannelDuplexHandler, RemovableChannelHandler {
        public typealias InboundIn = HTTPServerRequestPart
        public typealias InboundOut = HTTPServerRequestPart
        public typealias OutboundIn = HTTPServerResponsePart
        public typealias OutboundOut = HTTPServerResponsePart
        private let timeout: RequestTimeout
        /// Requests received in full whose answers are not written yet: more than one when
        /// the handler behind works on pipelined requests together.
        private var owed = 0
        /// A request's head arrived and its end has not.
        private var receiving = false

        fileprivate init(timeout: RequestTimeout) { self.timeout = timeout }

        public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head:
                // Timed even while earlier answers are owed: the peer sends this one.
                receiving = true
                if case .receiving = timeout.phase {} else { timeout.enter(.receiving, on: context.eventLoop) }
            case .body:
                break
            case .end:
                receiving = false
                owed += 1
                timeout.enter(.responding, on: context.eventLoop)
            }
            context.fireChannelRead(data)
        }

        public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            if case .end = unwrapOutboundIn(data), owed > 0 {
                owed -= 1
                if owed == 0, !receiving { timeout.enter(.idle, on: context.eventLoop) }
            }
            context.write(data, promise: promise)
        }
    }
}

@available(*, unavailable)
extension RequestTimeout: Sendable {}
