import Synchronization

/// Admin requests this node sent and is waiting on: pairs incoming replies with their
/// request and ends each wait when every node asked has answered or the timeout passed,
/// whichever comes first.
///
/// A late reply (after its wait ended), a duplicate, or one from a node that was not asked
/// is dropped.
public final class PendingReplies: Sendable {
    private struct Waiter {
        var expected: Set<String>
        var replies: [String: ControlReply] = [:]
        var continuation: CheckedContinuation<[String: ControlReply], Never>?
        /// The timeout passed before anyone waited (only with a near-zero timeout).
        var expired = false

        var isComplete: Bool { expected.isSubset(of: replies.keys) }
    }

    private let waiters = Mutex<[String: Waiter]>([:])

    public init() {}

    /// Starts waiting for replies to `id` from `nodes`; call before sending the requests, so
    /// that a quick reply is not lost.
    public func register(_ id: String, expecting nodes: Set<String>) {
        waiters.withLock { $0[id] = Waiter(expected: nodes) }
    }

    /// Stops waiting for `node` (its request could not be sent).
    public func giveUp(on node: String, for id: String) {
        complete(id) { $0.expected.remove(node) }
    }

    /// Returns false when nobody waits for this reply.
    @discardableResult
    public func receive(_ reply: ControlReply) -> Bool {
        var accepted = false
        complete(reply.id) { waiter in
            guard waiter.expected.contains(reply.from), waiter.replies[reply.from] == nil else { return }
            waiter.replies[reply.from] = reply
            accepted = true
        }
        return accepted
    }

    /// The replies that came, by node, once all expected have come or after `timeout`.
    public func wait(for id: String, timeout: Duration) async -> [String: ControlReply] {
        let timer = Task {
            try? await Task.sleep(for: timeout)
            self.expire(id)
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { continuation in
            let ready: [String: ControlReply]? = waiters.withLock { waiters in
                guard var waiter = waiters[id] else { return [:] }
                if waiter.isComplete || waiter.expired {
                    waiters[id] = nil
                    return waiter.replies
                }
                waiter.continuation = continuation
                waiters[id] = waiter
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// How many requests are waiting (for tests and leak checks).
    public var count: Int { waiters.withLock { $0.count } }

    private func expire(_ id: String) {
        let finished: (CheckedContinuation<[String: ControlReply], Never>, [String: ControlReply])? = waiters.withLock { waiters in
            guard var waiter = waiters[id] else { return nil }
            guard let continuation = waiter.continuation else {
                waiter.expired = true
                waiters[id] = waiter
                return nil
            }
            waiters[id] = nil
            return (continuation, waiter.replies)
        }
        if let (continuation, replies) = finished { continuation.resume(returning: replies) }
    }

    /// Applies `change` and resumes the waiter if it is now complete (outside the lock).
    private func complete(_ id: String, _ change: (inout Waiter) -> Void) {
        let finished: (CheckedContinuation<[String: ControlReply], Never>, [String: ControlReply])? = waiters.withLock { waiters in
            guard var waiter = waiters[id] else { return nil }
            change(&waiter)
            if waiter.isComplete, let continuation = waiter.continuation {
                waiters[id] = nil
                return (continuation, waiter.replies)
            }
            waiters[id] = waiter
            return nil
        }
        if let (continuation, replies) = finished { continuation.resume(returning: replies) }
    }
}
