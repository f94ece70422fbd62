import ArgumentParser

enum Scenario: String, CaseIterable, ExpressibleByArgument, Sendable {
    case idle
    case targetedRate = "targeted-rate"
    case targetedMax = "targeted-max"
    case bulk
    case broadcast
    /// Connections closed and reopened as fast as the server takes them, for a duration.
    case churn

    var publishes: Bool { self != .idle && self != .churn }
}
