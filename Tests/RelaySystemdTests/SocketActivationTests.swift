#if canImport(Glibc)
import Glibc
#endif
import Foundation
@testable import RelaySystemd
import Testing

extension ProcessEnvironmentTests {
    // Serialized with the environment-changing suites: spawning reads environ.
    /// `listeners()` with sockets passed by real systemd code: `systemd-socket-activate` binds
    /// a TCP and a Unix listener, names them `http:publish` and execs this very test binary
    /// again, running only ``socketActivationChild()``, which reports what it received.
    ///
    /// A child process because fds 3 onwards, where systemd puts passed sockets, already hold
    /// libdispatch's epoll and eventfd in the test process.
    @Suite struct SocketActivationUnderSystemdTests {
        @Test(.enabled(if: SocketActivationChild.tool != nil, "systemd-socket-activate not installed"))
        func namedListenersReachTheActivatedProcess() throws {
            let directory = try makeTemporaryDirectory()
            defer { removeDirectory(directory) }
            let port = try SocketActivationChild.freePort()
            let report = directory + "/report"
            let child = Process()
            child.executableURL = URL(fileURLWithPath: SocketActivationChild.tool!)
            child.arguments = [
                "-l", "127.0.0.1:\(port)", "-l", directory + "/publish.sock", "--fdname=http:publish",
                "-E", "\(SocketActivationChild.reportVariable)=\(report)",
                "--", CommandLine.arguments[0], "--testing-library", "swift-testing", "--filter", "socketActivationChild",
            ]
            // The child's own test output would interleave with ours: keep it for a failure.
            let log = directory + "/child.log"
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            let logHandle = try #require(FileHandle(forWritingAtPath: log))
            defer { try? logHandle.close() }
            child.standardInput = FileHandle.nullDevice
            child.standardOutput = logHandle
            child.standardError = logHandle
            let exit = ProcessExit(child)
            try child.run()
            defer {
                if child.isRunning {
                    child.terminate()
                }
            }
            // systemd-socket-activate starts the program on the first connection; the child
            // then accepts this very connection on the descriptor it was given.
            let client = try SocketActivationChild.connect(port: port, within: .seconds(10))
            defer { close(client) }
            _ = exit.wait(within: .seconds(60))
            let childOutput = { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
            try #require(!child.isRunning, "the activated child did not finish: \(childOutput())")
            let written = try #require(try? String(contentsOfFile: report, encoding: .utf8), "no report: \(childOutput())")
            let lines = written.split(separator: "\n").map(String.init)
            #expect(lines == [
                "listeners http=3 publish=4",
                "http inet=true unix=false",
                "publish inet=false unix=true",
                "environment unset=true",
                "again empty=true",
                "accepted=true",
            ])
        }
    }
}

/// The activated side: runs only when the parent test started it.
@Test(.enabled(if: getenv(SocketActivationChild.reportVariable) != nil, "runs only in the activated child"))
func socketActivationChild() throws {
    let listeners = SocketActivation.listeners()
    var lines = ["listeners " + listeners.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")]
    for name in ["http", "publish"] {
        let fd = listeners[name] ?? -1
        lines.append("\(name) inet=\(SocketActivation.isSocket(fd, unixPath: false)) unix=\(SocketActivation.isSocket(fd, unixPath: true))")
    }
    let unset = getenv("LISTEN_PID") == nil && getenv("LISTEN_FDS") == nil && getenv("LISTEN_FDNAMES") == nil
    lines.append("environment unset=\(unset)")
    lines.append("again empty=\(SocketActivation.listeners().isEmpty)")
    var poller = pollfd(fd: listeners["http"] ?? -1, events: Int16(POLLIN), revents: 0)
    let accepted = poll(&poller, 1, 10_000) == 1 ? accept(poller.fd, nil, nil) : -1
    lines.append("accepted=\(accepted >= 0)")
    if accepted >= 0 {
        close(accepted)
    }
    let path = try #require(getenv(SocketActivationChild.reportVariable).map { String(cString: $0) })
    try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
}

enum SocketActivationChild {
    static let reportVariable = "RELAY_SYSTEMD_TEST_ACTIVATION_REPORT"

    static let tool: String? = ["/usr/bin/systemd-socket-activate", "/bin/systemd-socket-activate"]
        .first { access($0, X_OK) == 0 }

    /// A loopback port that was free a moment ago.
    static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        try #require(bound)
        return UInt16(bigEndian: address.sin_port)
    }

    /// Connects to 127.0.0.1:`port`, retrying until the listener exists.
    static func connect(port: UInt16, within timeout: Duration) throws -> Int32 {
        let connected = eventually(within: timeout) { () -> Int32? in
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = loopback(port: port)
            let done = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
            if done { return fd }
            close(fd)
            return nil
        }
        return try #require(connected, "nothing listens on 127.0.0.1:\(port)")
    }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }
}

@Suite struct SocketActivationNamingTests {
    @Test func firstDescriptorPerNameWins() {
        let listeners = SocketActivation.byName([
            (3, "http"), (4, "publish"), (5, "http"), (6, "unknown"), (7, "unknown"),
        ])
        #expect(listeners == ["http": 3, "publish": 4, "unknown": 6])
    }

    @Test func closedDescriptorIsNoSocket() {
        #expect(!SocketActivation.isSocket(-1, unixPath: false))
        #expect(!SocketActivation.isSocket(-1, unixPath: true))
    }
}
