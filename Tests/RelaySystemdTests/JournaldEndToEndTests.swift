#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
@testable import RelaySystemd
import Testing

extension ProcessEnvironmentTests {
    // Serialized with the environment-changing suites: spawning reads environ.
    /// ``JournaldLogHandler`` against a real `systemd-journald`: a private one in a private mount
    /// namespace (tmpfs over `/run` and `/var/log/journal`, the host's journal untouched), in
    /// which this test binary runs again as ``journaldChild()`` to log, and `journalctl -o json`
    /// reads the entries back. Needs root; the integration tier does the same with the relay.
    @Suite struct JournaldEndToEndTests {
        static let script = #"""
        set -eu
        mount -t tmpfs -o mode=0755 tmpfs /run
        mkdir -p /run/systemd/journal /run/log/journal
        if [ -d /var/log/journal ]; then mount -t tmpfs -o mode=2755 tmpfs /var/log/journal; fi
        /lib/systemd/systemd-journald >"$WORKDIR/journald.log" 2>&1 &
        journald=$!
        trap 'kill $journald 2>/dev/null || true' EXIT
        for _ in $(seq 400); do [ -S /run/systemd/journal/socket ] && break; sleep 0.025; done
        "$@" >"$WORKDIR/child.log" 2>&1
        # journald takes the datagrams in its own time: read until both entries are in (10 s).
        for _ in $(seq 200); do
            journalctl -o json --no-pager --all -t sse-relay-test >"$WORKDIR/journal.json"
            [ "$(grep -c . "$WORKDIR/journal.json")" -ge 2 ] && break
            sleep 0.05
        done
        """#

        static var available: Bool {
            geteuid() == 0 && access("/lib/systemd/systemd-journald", X_OK) == 0 && access("/usr/bin/unshare", X_OK) == 0
        }

        @Test(.enabled(if: available, "needs root, unshare and systemd-journald"))
        func entriesCarryStructuredFields() throws {
            let directory = try makeTemporaryDirectory()
            defer { removeDirectory(directory) }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
            process.arguments = [
                "-m", "--propagation", "private", "bash", "-c", Self.script, "bash",
                CommandLine.arguments[0], "--testing-library", "swift-testing", "--filter", "journaldChild",
            ]
            var environment = ProcessInfo.processInfo.environment
            environment["WORKDIR"] = directory
            environment["RELAY_SYSTEMD_TEST_JOURNALD_CHILD"] = "1"
            process.environment = environment
            process.standardInput = FileHandle.nullDevice
            let exit = ProcessExit(process)
            try process.run()
            _ = exit.wait(within: .seconds(60))
            let diagnostics = {
                ["child.log", "journald.log"].map { name in
                    "\(name): " + ((try? String(contentsOfFile: directory + "/" + name, encoding: .utf8)) ?? "-")
                }.joined(separator: "\n")
            }
            if process.isRunning {
                process.terminate()
            }
            try #require(!process.isRunning && process.terminationStatus == 0, "\(diagnostics())")
            let json = try String(contentsOfFile: directory + "/journal.json", encoding: .utf8)
            let entries = try json.split(separator: "\n").map { line in
                try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            }
            func values(_ entry: [String: Any], _ name: String) -> [String] {
                switch entry[name] {
                case let text as String: [text]
                case let texts as [String]: texts
                default: []
                }
            }
            let opened = try #require(entries.first { values($0, "MESSAGE") == ["stream opened"] }, "\(entries) \(diagnostics())")
            #expect(values(opened, "PRIORITY") == ["6"])
            #expect(values(opened, "SSE_CLIENT_ID") == ["42"])
            #expect(values(opened, "SSE_PEER") == ["127.0.0.1:50000"])
            #expect(values(opened, "SSE_TOPIC") == ["news", "sport"])
            #expect(values(opened, "SSE_NODE_ID") == ["node-a"])
            #expect(values(opened, "LOGGER_LABEL") == ["relay.sse"])
            #expect(values(opened, "CODE_FUNC") == ["journaldChild()"])
            #expect(values(opened, "_TRANSPORT") == ["journal"])
            let closed = try #require(entries.first { values($0, "MESSAGE") == ["stream closed\nafter 3 s"] })
            #expect(values(closed, "PRIORITY") == ["4"])
            #expect(values(closed, "SSE_REASON") == ["client_gone"])
            // Below the shared level: never sent.
            #expect(!entries.contains { values($0, "MESSAGE") == ["hidden"] })
        }
    }
}

/// The logging side, run only inside the namespace the test above prepared.
@Test(.enabled(if: getenv("RELAY_SYSTEMD_TEST_JOURNALD_CHILD") != nil, "runs only in the namespaced child"))
func journaldChild() {
    let level = LogLevelSource(.info)
    var logger = Logger(label: "relay.sse") { JournaldLogHandler(label: $0, identifier: "sse-relay-test", level: level) }
    logger[metadataKey: "node.id"] = "node-a"
    logger.debug("hidden")
    logger.info("stream opened", metadata: ["client.id": "42", "peer": "127.0.0.1:50000", "topics": "news,sport"])
    logger.warning("stream closed\nafter 3 s", metadata: ["client.id": "42", "reason": "client_gone"])
}
