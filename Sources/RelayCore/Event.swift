/// An event as a publisher describes it, before the relay gives it an id.
public struct Event: Sendable, Equatable {
    /// The SSE `event:` field; `nil` means the browser's default `message` event.
    public var name: String?
    /// Any text; line breaks are kept (the encoder splits them into `data:` lines).
    public var data: String
    /// An optional `retry:` hint for the browser's reconnect delay, in milliseconds.
    public var retry: Int?

    public init(name: String? = nil, data: String, retry: Int? = nil) {
        self.name = name
        self.data = data
        self.retry = retry
    }

    /// The bytes this event weighs against the configured maximum event size.
    public var size: Int { data.utf8.count + (name?.utf8.count ?? 0) }
}

/// Why an event was refused before it reached any subscriber.
public enum EventValidationError: Error, Equatable, Sendable {
    /// The name holds a CR or LF, which would end the `event:` field early and let the
    /// rest of the name inject fields.
    case nameHasLineBreak
    case nameEmpty
    case retryOutOfRange(Int)
    case tooLarge(size: Int, limit: Int)
}

extension Event {
    /// Checks what the encoder cannot make safe by itself. Data needs no check: every line
    /// break in it becomes a new `data:` line.
    public func validate(maxSize: Int) throws(EventValidationError) {
        if let name {
            if name.isEmpty { throw .nameEmpty }
            if name.utf8.contains(where: { $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") }) {
                throw .nameHasLineBreak
            }
        }
        if let retry, retry < 0 || retry > 86_400_000 { throw .retryOutOfRange(retry) }
        let size = self.size
        if size > maxSize { throw .tooLarge(size: size, limit: maxSize) }
    }
}
