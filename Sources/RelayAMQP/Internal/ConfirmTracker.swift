import RelayCore

/// Publisher-confirm bookkeeping for one channel: which published messages still await the
/// broker's verdict, and what each verdict means for its caller.
///
/// Relies on two broker guarantees: delivery tags count up from 1 per channel in publish
/// order, and a `basic.return` for an unroutable mandatory message arrives before the ack
/// that covers it. So entries stay sorted by tag (an array with a moving head, no search),
/// and a returned message is only marked when its return arrives and resolved as `.noRoute`
/// by its ack. Pure and single-threaded: the worker thread owns it.
struct ConfirmTracker<Token> {
    private struct Entry {
        let tag: UInt64
        var token: Token?
        let deadline: ContinuousClock.Instant
        var returned = false
    }

    private var entries: [Entry] = []
    private var head = 0

    var isEmpty: Bool { head == entries.count }

    /// The oldest deadline still open; entries are appended in deadline order.
    var nextDeadline: ContinuousClock.Instant? { isEmpty ? nil : entries[head].deadline }

    /// - Important: tags must be appended in increasing order without gaps (the channel's
    ///   publish sequence).
    mutating func append(tag: UInt64, token: Token, deadline: ContinuousClock.Instant) {
        if let last = entries.last, head < entries.count {
            precondition(tag == last.tag + 1, "delivery tags must be contiguous")
        }
        entries.append(Entry(tag: tag, token: token, deadline: deadline))
    }

    /// Remembers that the broker returned this message as unroutable; its ack follows.
    /// Returns false for a tag that is not pending (already resolved or unknown).
    @discardableResult
    mutating func markReturned(tag: UInt64) -> Bool {
        guard let index = index(of: tag), entries[index].token != nil else { return false }
        entries[index].returned = true
        return true
    }

    /// `basic.ack`: confirmed, or `.noRoute` for a message that came back first.
    mutating func acknowledge(tag: UInt64, multiple: Bool) -> [(Token, ForwardOutcome)] {
        resolve(tag: tag, multiple: multiple) { $0.returned ? .noRoute : .confirmed }
    }

    /// `basic.nack`: the broker could not take responsibility for the message.
    mutating func reject(tag: UInt64, multiple: Bool) -> [(Token, ForwardOutcome)] {
        resolve(tag: tag, multiple: multiple) { _ in .unconfirmed("the broker rejected the message (basic.nack)") }
    }

    /// Gives up on every message whose deadline passed.
    mutating func expire(now: ContinuousClock.Instant, reason: String) -> [(Token, ForwardOutcome)] {
        var resolved: [(Token, ForwardOutcome)] = []
        while head < entries.count, entries[head].deadline <= now {
            if let token = entries[head].token { resolved.append((token, .unconfirmed(reason))) }
            head += 1
        }
        while head < entries.count, entries[head].token == nil { head += 1 }
        compact()
        return resolved
    }

    /// The connection is gone: nobody will confirm what is still open.
    mutating func failAll(reason: String) -> [(Token, ForwardOutcome)] {
        let resolved = entries[head...].compactMap { entry in entry.token.map { ($0, ForwardOutcome.unconfirmed(reason)) } }
        entries.removeAll()
        head = 0
        return resolved
    }

    private func index(of tag: UInt64) -> Int? {
        guard head < entries.count, tag >= entries[head].tag else { return nil }
        let offset = tag - entries[head].tag
        guard offset < UInt64(entries.count - head) else { return nil }
        return head + Int(offset)
    }

    private mutating func resolve(tag: UInt64, multiple: Bool, outcome: (Entry) -> ForwardOutcome) -> [(Token, ForwardOutcome)] {
        var resolved: [(Token, ForwardOutcome)] = []
        if multiple {
            // Every open tag up to and including `tag`; tags below the head are long resolved.
            var index = head
            while index < entries.count, entries[index].tag <= tag {
                if let token = entries[index].token {
                    resolved.append((token, outcome(entries[index])))
                    entries[index].token = nil
                }
                index += 1
            }
        } else if let index = index(of: tag), let token = entries[index].token {
            resolved.append((token, outcome(entries[index])))
            entries[index].token = nil
        }
        while head < entries.count, entries[head].token == nil { head += 1 }
        compact()
        return resolved
    }

    /// Drops resolved entries in bulk, so the array neither grows forever nor shifts per ack.
    private mutating func compact() {
        if head == entries.count {
            entries.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 1024, head * 2 > entries.count {
            entries.removeFirst(head)
            head = 0
        }
    }
}
