#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation

/// Tells when a child process exits, without polling. Create it before `run()`: a handler
/// set later could miss an early exit.
final class ProcessExit: Sendable {
    private let exited = DispatchSemaphore(value: 0)

    init(_ process: Process) {
        let exited = self.exited
        process.terminationHandler = { _ in exited.signal() }
    }

    /// Waits for the exit; false when the process is still running after `timeout`.
    func wait(within timeout: Duration) -> Bool {
        exited.wait(timeout: .now() + .milliseconds(Int(timeout.components.seconds * 1000))) == .success
    }
}

/// Tries `attempt` until it gives a value or `timeout` passes (then nil), for conditions
/// nothing announces, such as a listener appearing; the pause only paces the attempts.
func eventually<Value>(within timeout: Duration, _ attempt: () -> Value?) -> Value? {
    let deadline = ContinuousClock.now + timeout
    while true {
        if let value = attempt() { return value }
        guard ContinuousClock.now < deadline else { return nil }
        usleep(10_000)
    }
}
