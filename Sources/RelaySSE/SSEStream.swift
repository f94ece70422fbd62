import NIOCore
import RelayCore

/// The hub's handle on one open stream: immutable facts plus a way into its handler.
///
/// Everything mutable lives in ``SSEStreamHandler`` on the stream's event loop; this class
/// only holds `let`s and reaches the handler through `NIOLoopBound`, which checks that it
/// is touched on that loop.
public final class SSEStream: ManagedStream {
    public let clientID: ClientID
    public let topics: [TopicName]
    public let queue: DeliveryQueue<SSEStream>
    public let info: ConnectionInfo
    let handler: NIOLoopBound<SSEStreamHandler>

    init(request: SSERequest, info: ConnectionInfo, queue: DeliveryQueue<SSEStream>, handler: NIOLoopBound<SSEStreamHandler>) {
        self.clientID = request.client
        self.topics = request.topics
        self.info = info
        self.queue = queue
        self.handler = handler
    }

    /// ``info`` with what changes while the stream is open (the last event id), read on the
    /// stream's event loop.
    public func describe() async -> ConnectionInfo {
        let handler = self.handler
        let lastEventID = try? await handler.eventLoop.submit { handler.value.lastEventID }.get()
        var info = self.info
        info.lastEventID = lastEventID ?? nil
        return info
    }

    public func close(reason: CloseReason) {
        let handler = self.handler
        handler.eventLoop.execute {
            handler.value.finish(reason: reason)
        }
    }
}
