import ArgumentParser

enum Scenario: String, CaseIterable, ExpressibleByArgument, Sendable {
    case idle
    case targetedRate = "targeted-rate"
    case targetedMax = "targeted-max"
    case bulk
    case broadcast

    var publishes: Bool { self != .idle }
}
