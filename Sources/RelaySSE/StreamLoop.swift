import NIOCore
import RelayCore

/// Everything streams on one event loop share: the delivery queue the hub fills, and one
/// timer that sends keep-alives and ends streams at their lifetime.
///
/// One timer per loop instead of one per connection: 10,000 streams cost one scheduled
/// task, and a sweep over them every tick costs microseconds.
final class StreamLoop: Sendable {
    let eventLoop: any EventLoop
    let queue: DeliveryQueue<SSEStream>
    private let streams: NIOLoopBoundBox<Streams>

    /// Loop-confined registry of open streams.
    final class Streams {
        var open: [ObjectIdentifier: SSEStreamHandler] = [:]
        var sweep: RepeatedTask?
    }

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
        self.streams = NIOLoopBoundBox.makeBoxSendingValue(Streams(), eventLoop: eventLoop)
        self.queue = DeliveryQueue { batch in
            eventLoop.execute {
                // Write every frame, then flush each touched stream once: one syscall per
                // stream per batch, however many events the batch held for it.
                var touched: [SSEStreamHandler] = []
                for delivery in batch {
                    let handler = delivery.subscriber.handler.value
                    if handler.enqueue(delivery.frame) {
                        touched.append(handler)
                    }
                }
                for handler in touched {
                    handler.flushPending()
                }
            }
        }
    }

    /// - Important: call on `eventLoop`.
    func register(_ handler: SSEStreamHandler) {
        streams.value.open[ObjectIdentifier(handler)] = handler
    }

    /// - Important: call on `eventLoop`.
    func deregister(_ handler: SSEStreamHandler) {
        streams.value.open[ObjectIdentifier(handler)] = nil
    }

    /// Starts the sweep; `tick` bounds how late a keep-alive or a lifetime close can be.
    func start(tick: TimeAmount) {
        let streams = self.streams
        eventLoop.execute {
            streams.value.sweep = self.eventLoop.scheduleRepeatedTask(initialDelay: tick, delay: tick) { _ in
                let now = NIODeadline.now()
                for handler in streams.value.open.values {
                    handler.tick(now: now)
                }
            }
        }
    }

    /// Stops the sweep and ends every stream on this loop.
    func closeAll(reason: CloseReason) -> EventLoopFuture<Void> {
        let streams = self.streams
        return eventLoop.submit {
            streams.value.sweep?.cancel()
            streams.value.sweep = nil
            for handler in Array(streams.value.open.values) {
                handler.finish(reason: reason)
            }
        }
    }

    /// - Important: call on `eventLoop`.
    var openCount: Int { streams.value.open.count }
}
