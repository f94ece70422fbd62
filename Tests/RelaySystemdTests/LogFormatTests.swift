#if canImport(Glibc)
import Glibc
#endif
@testable import RelaySystemd
import Testing

@Suite struct LogFormatResolutionTests {
    let stderrIdentity = FileIdentity(device: 64769, inode: 123_456)

    @Test func explicitFormatsStay() {
        #expect(LogFormat.resolve(.journald, journalStream: nil, standardError: nil) == .journald)
        #expect(LogFormat.resolve(.text, journalStream: "64769:123456", standardError: stderrIdentity) == .text)
    }

    @Test(arguments: [
        ("64769:123456", LogFormat.journald),
        ("64769:123457", .text),
        ("1:123456", .text),
        ("64769", .text),
        ("64769:123456:1", .text),
        ("", .text),
        ("x:y", .text),
    ])
    func autoNeedsTheRealStream(value: String, expected: LogFormat) {
        #expect(LogFormat.resolve(.auto, journalStream: value, standardError: stderrIdentity) == expected)
    }

    @Test func autoWithoutVariableOrStderrIsText() {
        #expect(LogFormat.resolve(.auto, journalStream: nil, standardError: stderrIdentity) == .text)
        #expect(LogFormat.resolve(.auto, journalStream: "64769:123456", standardError: nil) == .text)
    }

    @Test func rawValuesAreTheFlagValues() {
        #expect(LogFormat.allCases.map(\.rawValue) == ["auto", "journald", "text"])
    }
}

extension ProcessEnvironmentTests {
    /// `resolve(_:)` against this process's real stderr and environment.
    @Suite struct LogFormatFromEnvironment {
        @Test func journalStreamNamingStderrMeansJournald() throws {
            var status = stat()
            try #require(fstat(STDERR_FILENO, &status) == 0)
            let real = "\(status.st_dev):\(status.st_ino)"
            withEnvironment(["JOURNAL_STREAM": real]) {
                #expect(LogFormat.resolve(.auto) == .journald)
                #expect(LogFormat.resolve(.text) == .text)
            }
            // Inherited from a parent whose stderr was the journal, ours is not.
            withEnvironment(["JOURNAL_STREAM": "\(status.st_dev):\(status.st_ino + 1)"]) {
                #expect(LogFormat.resolve(.auto) == .text)
            }
            withEnvironment(["JOURNAL_STREAM": nil]) {
                #expect(LogFormat.resolve(.auto) == .text)
                #expect(LogFormat.resolve(.journald) == .journald)
            }
        }
    }
}
