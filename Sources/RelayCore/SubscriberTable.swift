/// Who is subscribed to what on this node: client id → its connections, topic → its
/// connections.
///
/// Clients usually hold one to a few connections (tabs), so they live in small arrays;
/// a topic can hold thousands and needs O(1) removal, so it is keyed by identity.
///
/// - Important: Not thread-safe; the hub keeps it under its lock.
public struct SubscriberTable<S: Subscriber>: Sendable {
    private var clients: [ClientID: [S]] = [:]
    private var topics: [TopicName: [ObjectIdentifier: S]] = [:]
    public private(set) var connectionCount = 0

    public init() {}

    public var clientCount: Int { clients.count }
    public var topicCount: Int { topics.count }

    /// Adds a connection. Returns true when it is the first one for its client id (the
    /// moment a cluster registry must announce the client).
    @discardableResult
    public mutating func insert(_ subscriber: S) -> Bool {
        connectionCount += 1
        for topic in subscriber.topics {
            topics[topic, default: [:]][ObjectIdentifier(subscriber)] = subscriber
        }
        var first = false
        clients[subscriber.clientID, default: { first = true; return [] }()].append(subscriber)
        return first
    }

    public func holds(_ client: ClientID) -> Bool { clients[client] != nil }
    public func holds(_ topic: TopicName) -> Bool { topics[topic] != nil }
    public var clientIDs: Dictionary<ClientID, [S]>.Keys { clients.keys }
    public var topicNames: Dictionary<TopicName, [ObjectIdentifier: S]>.Keys { topics.keys }

    /// Removes a connection; returns true when it was the client's last one. Removing a
    /// connection that is not there is a no-op (close paths may race to get here twice).
    @discardableResult
    public mutating func remove(_ subscriber: S) -> Bool {
        guard var list = clients[subscriber.clientID],
            let position = list.firstIndex(where: { $0 === subscriber })
        else { return false }
        connectionCount -= 1
        list.remove(at: position)
        for topic in subscriber.topics {
            topics[topic]?[ObjectIdentifier(subscriber)] = nil
            if topics[topic]?.isEmpty == true { topics[topic] = nil }
        }
        if list.isEmpty {
            clients[subscriber.clientID] = nil
            return true
        }
        clients[subscriber.clientID] = list
        return false
    }

    public func subscribers(of client: ClientID) -> [S] {
        clients[client] ?? []
    }

    public func subscribers(of topic: TopicName) -> Dictionary<ObjectIdentifier, S>.Values? {
        topics[topic]?.values
    }

    public func forEachSubscriber(of target: Target, _ body: (S) -> Void) {
        switch target {
        case .client(let id):
            clients[id]?.forEach(body)
        case .topic(let topic):
            topics[topic]?.values.forEach(body)
        }
    }

    public func subscriberCount(of target: Target) -> Int {
        switch target {
        case .client(let id): clients[id]?.count ?? 0
        case .topic(let topic): topics[topic]?.count ?? 0
        }
    }

    public var allSubscribers: [S] {
        clients.values.flatMap { $0 }
    }
}
