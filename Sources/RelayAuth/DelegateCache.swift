import NIOCore
import RelayCore
import Synchronization

/// Recent delegate answers, so a page that opens several streams (or a browser that
/// reconnects) does not ask the application each time. Bounded: when full, expired entries
/// go first, then the oldest.
final class DelegateCache: Sendable {
    private struct Entry {
        var result: Result<Grant, Refusal>
        var expires: NIODeadline
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var order: [String] = []  // insertion order, for evicting the oldest
    }

    private let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    func lookup(_ key: String, now: NIODeadline) -> Result<Grant, Refusal>? {
        state.withLock { state in
            guard let entry = state.entries[key] else { return nil }
            guard entry.expires > now else {
                state.entries[key] = nil
                return nil
            }
            return entry.result
        }
    }

    func store(_ key: String, _ result: Result<Grant, Refusal>, until expires: NIODeadline) {
        state.withLock { state in
            if state.entries.count >= capacity {
                let now = NIODeadline.now()
                state.entries = state.entries.filter { $0.value.expires > now }
                state.order.removeAll { state.entries[$0] == nil }
                while state.entries.count >= capacity, !state.order.isEmpty {
                    state.entries[state.order.removeFirst()] = nil
                }
            }
            if state.entries[key] == nil { state.order.append(key) }
            state.entries[key] = Entry(result: result, expires: expires)
        }
    }

    var count: Int { state.withLock { $0.entries.count } }
}
