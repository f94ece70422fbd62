#if canImport(Glibc)
import Glibc
#endif
@testable import RelaySystemd
import Testing

extension ProcessEnvironmentTests {
    /// The sd_notify protocol end to end: libsystemd sends real datagrams to a socket the
    /// test bound, as systemd's would be.
    @Suite struct NotifyProtocol {
        @Test func notSupervisedWithoutNotifySocket() {
            withEnvironment(["NOTIFY_SOCKET": nil]) {
                #expect(SystemdNotifier.fromEnvironment() == nil)
            }
            withEnvironment(["NOTIFY_SOCKET": ""]) {
                #expect(SystemdNotifier.fromEnvironment() == nil)
            }
        }

        @Test func readyWithStatus() throws {
            let manager = try NotifySocket()
            try manager.whileSupervising {
                let notifier = try #require(SystemdNotifier.fromEnvironment())
                #expect(notifier.socketPath == manager.path)
                #expect(notifier.ready(status: "listening on 127.0.0.1:8080"))
            }
            #expect(manager.receive() == "READY=1\nSTATUS=listening on 127.0.0.1:8080")
        }

        @Test func readyWithoutStatusAndPlainStatus() throws {
            let manager = try NotifySocket()
            try manager.whileSupervising {
                let notifier = try #require(SystemdNotifier.fromEnvironment())
                notifier.ready()
                notifier.status("3 clients\nconnected")
            }
            #expect(manager.receive() == "READY=1")
            // A newline would start a new assignment: it is flattened.
            #expect(manager.receive() == "STATUS=3 clients connected")
        }

        @Test func reloadingCarriesMonotonicTimestamp() throws {
            let manager = try NotifySocket()
            let before = SystemdNotifier.monotonicMicroseconds()
            try manager.whileSupervising {
                let notifier = try #require(SystemdNotifier.fromEnvironment())
                #expect(notifier.reloading())
            }
            let after = SystemdNotifier.monotonicMicroseconds()
            let message = try #require(manager.receive())
            let lines = message.split(separator: "\n")
            #expect(lines.first == "RELOADING=1")
            let stamp = try #require(lines.first { $0.hasPrefix("MONOTONIC_USEC=") })
            let microseconds = try #require(UInt64(stamp.dropFirst("MONOTONIC_USEC=".count)))
            #expect((before...after).contains(microseconds))

            // Cross-check against the kernel's CLOCK_MONOTONIC directly.
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            #expect(microseconds <= UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000)
        }

        @Test func stoppingWatchdogAndExtendTimeout() throws {
            let manager = try NotifySocket()
            try manager.whileSupervising {
                let notifier = try #require(SystemdNotifier.fromEnvironment())
                notifier.stopping()
                notifier.stopping(status: "draining 12 streams")
                notifier.watchdogPing()
                notifier.extendTimeout(.seconds(5))
                notifier.extendTimeout(.milliseconds(1500) + .nanoseconds(2500))
            }
            #expect(manager.receive() == "STOPPING=1")
            #expect(manager.receive() == "STOPPING=1\nSTATUS=draining 12 streams")
            #expect(manager.receive() == "WATCHDOG=1")
            #expect(manager.receive() == "EXTEND_TIMEOUT_USEC=5000000")
            #expect(manager.receive() == "EXTEND_TIMEOUT_USEC=1500002")
        }

        @Test func sendAssignmentsAndRaw() throws {
            let manager = try NotifySocket()
            try manager.whileSupervising {
                let notifier = try #require(SystemdNotifier.fromEnvironment())
                #expect(notifier.send(["STATUS": "ok", "READY": "1", "MAINPID": "\(getpid())"]))
                #expect(notifier.send("FDSTORE=0"))
            }
            #expect(manager.receive() == "MAINPID=\(getpid())\nREADY=1\nSTATUS=ok")
            #expect(manager.receive() == "FDSTORE=0")
        }

        @Test func abstractSocketAddress() throws {
            // systemd may hand out an abstract address (`@name`); libsystemd handles both.
            let name = "relay-systemd-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            defer { close(descriptor) }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { buffer in
                for (index, byte) in name.utf8.enumerated() {
                    buffer[index + 1] = byte
                }
            }
            let length = socklen_t(MemoryLayout<sa_family_t>.size + 1 + name.utf8.count)
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
            }
            try #require(bound == 0)
            try withEnvironment(["NOTIFY_SOCKET": "@" + name]) {
                let notifier = try #require(SystemdNotifier.fromEnvironment())
                #expect(notifier.watchdogPing())
            }
            var buffer = [UInt8](repeating: 0, count: 256)
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            try #require(poll(&poller, 1, 5000) == 1)
            let count = recv(descriptor, &buffer, buffer.count, 0)
            #expect(String(decoding: buffer[..<max(count, 0)], as: UTF8.self) == "WATCHDOG=1")
        }

        @Test func sendFailsWhenNobodyListens() throws {
            let directory = try makeTemporaryDirectory()
            defer { removeDirectory(directory) }
            try withEnvironment(["NOTIFY_SOCKET": directory + "/gone.sock"]) {
                let notifier = try #require(SystemdNotifier.fromEnvironment())
                #expect(notifier.ready() == false)
            }
        }

        @Test func watchdogIntervalOnlyForThisProcess() {
            withEnvironment(["WATCHDOG_USEC": "2500000", "WATCHDOG_PID": "\(getpid())"]) {
                #expect(SystemdNotifier.watchdogInterval() == .milliseconds(2500))
            }
            withEnvironment(["WATCHDOG_USEC": "2500000", "WATCHDOG_PID": nil]) {
                #expect(SystemdNotifier.watchdogInterval() == .milliseconds(2500))
            }
            // Inherited from a parent that systemd watches: not ours to ping.
            withEnvironment(["WATCHDOG_USEC": "2500000", "WATCHDOG_PID": "\(getppid())"]) {
                #expect(SystemdNotifier.watchdogInterval() == nil)
            }
            withEnvironment(["WATCHDOG_USEC": nil, "WATCHDOG_PID": nil]) {
                #expect(SystemdNotifier.watchdogInterval() == nil)
            }
        }
    }
}

@Suite struct DurationMicrosecondsTests {
    @Test(arguments: [
        (Duration.zero, UInt64(0)),
        (.microseconds(1), 1),
        (.nanoseconds(999), 0),
        (.seconds(90), 90_000_000),
        (.seconds(-3), 0),
        (.seconds(Int64.max), .max),
    ])
    func wholeMicroseconds(duration: Duration, expected: UInt64) {
        #expect(duration.wholeMicroseconds == expected)
    }
}
