import RelayCore

/// The admin commands read the registry through ``NodeDirectory``: the node entries the
/// heartbeats keep fresh (with their connection counts) and the client routes.
extension RedisRegistry: NodeDirectory {
    public func liveNodes() async throws -> [NodeInfo] {
        try await nodes().map {
            NodeInfo(id: $0.id, address: $0.address, started: $0.started, version: $0.version, connections: $0.connections)
        }
    }
}
