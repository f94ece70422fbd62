#if canImport(Glibc)
import Glibc
#endif
import Testing

/// A Unix datagram socket bound in a private directory, standing in for the service
/// manager's notify socket: what systemd itself listens on.
final class NotifySocket {
    let directory: String
    let path: String
    private let descriptor: Int32

    init() throws {
        directory = try makeTemporaryDirectory()
        path = directory + "/notify.sock"
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try #require(descriptor >= 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.enumerated() {
                buffer[index] = byte
            }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        try #require(bound == 0, "bind \(path): \(String(cString: strerror(errno)))")
    }

    deinit {
        close(descriptor)
        removeDirectory(directory)
    }

    /// The next datagram, or `nil` when none arrives before the deadline.
    func receive(timeout: Duration = .seconds(5)) -> String? {
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let milliseconds = Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        guard poll(&poller, 1, milliseconds) == 1 else {
            return nil
        }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(descriptor, &buffer, buffer.count, 0)
        guard count >= 0 else {
            return nil
        }
        return String(decoding: buffer[..<count], as: UTF8.self)
    }

    /// Runs `body` with `NOTIFY_SOCKET` pointing here.
    func whileSupervising<Result>(_ body: () throws -> Result) rethrows -> Result {
        try withEnvironment(["NOTIFY_SOCKET": path], body)
    }
}
