/// What a cluster registry reads from the node it announces: the local truth about which
/// client ids and topics have connections here.
public protocol LocalMembership: Sendable {
    func holds(_ client: ClientID) -> Bool
    func holds(_ topic: TopicName) -> Bool
    var membership: (clients: [ClientID], topics: [TopicName]) { get }
    var connectionCount: Int { get }
}

extension Hub: LocalMembership {
    public var connectionCount: Int { statistics.connections }
}
