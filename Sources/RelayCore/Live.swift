import Synchronization

/// A value that a reload can replace while readers use it (configuration that can change
/// without a restart). Readers take a snapshot; a lock makes it a consistent one.
public final class Live<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>

    public init(_ value: Value) {
        storage = Mutex(value)
    }

    public var value: Value {
        storage.withLock { $0 }
    }

    public func replace(with value: Value) {
        storage.withLock { $0 = value }
    }
}
