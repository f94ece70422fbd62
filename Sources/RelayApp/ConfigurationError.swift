/// A configuration that cannot be used; start-up stops with this message.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public var key: String
    public var problem: String

    public init(key: String, problem: String) {
        self.key = key
        self.problem = problem
    }

    public var description: String {
        "invalid configuration: \(key): \(problem) (file key \(key), environment \(RelayConfiguration.environmentName(of: key)))"
    }
}
