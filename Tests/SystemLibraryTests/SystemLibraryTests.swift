import CHiredis
import CRabbitMQ
import CSystemd
import Testing

/// The cluster (hiredis, rabbitmq-c) and systemd (libsystemd) adapters build on these C
/// libraries; this suite fails early and clearly when one is missing or does not link.
@Suite struct SystemLibraryTests {
    @Test func hiredisLinks() {
        // HIREDIS_MAJOR is a macro; the reader allocation proves the library itself links.
        let reader = redisReaderCreate()
        #expect(reader != nil)
        redisReaderFree(reader)
    }

    @Test func rabbitMQLinks() {
        let version = String(cString: amqp_version())
        #expect(version.hasPrefix("0."))
    }

    @Test func systemdLinks() {
        // Outside systemd, sd_booted() answers 0 or 1; a negative value would mean the call failed.
        #expect(sd_booted() >= 0)
    }
}
