import Testing

@testable import RelayAMQP

@Suite struct AMQPURLTests {
    @Test func fullURL() throws {
        let url = try AMQPURL(parsing: "amqp://relay:s3cr%40t@broker.internal:5673/relay%2Fprod")
        #expect(url == AMQPURL(host: "broker.internal", port: 5673, user: "relay", password: "s3cr@t", vhost: "relay/prod"))
    }

    @Test func defaults() throws {
        #expect(try AMQPURL(parsing: "amqp://localhost") == AMQPURL(host: "localhost"))
        #expect(try AMQPURL(parsing: "AMQP://localhost/") == AMQPURL(host: "localhost"))
        #expect(try AMQPURL(parsing: "amqp://bob@h").password == "guest")
        #expect(try AMQPURL(parsing: "amqp://h/%2f").vhost == "/")
        #expect(try AMQPURL(parsing: "amqp://h/staging").vhost == "staging")
    }

    @Test func ipv6() throws {
        #expect(try AMQPURL(parsing: "amqp://[::1]:5680/") == AMQPURL(host: "::1", port: 5680))
        #expect(try AMQPURL(parsing: "amqp://u:p@[fe80::1]") == AMQPURL(host: "fe80::1", user: "u", password: "p"))
    }

    @Test(arguments: [
        ("http://h/", AMQPError.Code.invalidURL),
        ("localhost:5672", .invalidURL),
        ("amqps://h/", .unsupportedScheme),
        ("amqp://", .invalidURL),
        ("amqp://u:p@/vh", .invalidURL),
        ("amqp://h:0/", .invalidURL),
        ("amqp://h:65536/", .invalidURL),
        ("amqp://h:+5/", .invalidURL),
        ("amqp://h:port/", .invalidURL),
        ("amqp://h/a/b", .invalidURL),
        ("amqp://h/%zz", .invalidURL),
        ("amqp://h/?heartbeat=5", .invalidURL),
        ("amqp://[::1/", .invalidURL),
        ("amqp://:p@h/", .invalidURL),
    ])
    func rejects(text: String, code: AMQPError.Code) {
        #expect { try AMQPURL(parsing: text) } throws: { ($0 as? AMQPError)?.code == code }
    }

    @Test func errorsAndDescriptionsMaskThePassword() throws {
        let url = try AMQPURL(parsing: "amqp://relay:hunter2@h:5672/v%20h")
        #expect(url.description == "amqp://relay:***@h:5672/v%20h")
        #expect(try AMQPURL(parsing: "amqp://h").description == "amqp://guest:***@h:5672/")
        do {
            _ = try AMQPURL(parsing: "amqp://relay:hunter2@h:99999/")
            Issue.record("expected an error")
        } catch {
            #expect(!error.message.contains("hunter2"))
            #expect(error.message.contains("relay:***@h:99999"))
        }
    }
}
