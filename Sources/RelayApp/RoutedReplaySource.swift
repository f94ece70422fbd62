import RelayCore
import RelayRedis

/// A stream's opening in cluster mode: the replay from the shared history, fetched once this
/// node's route for the stream's client id and topics is in Redis.
///
/// The order is the guarantee. Before it, an event could be published on another node
/// between the replay and the route (not in the replay, not routed here: lost for the
/// stream), and an app publishing as soon as the browser's EventSource fired `open` had its
/// event answered `client_not_connected` now and then (12 of 600 in a test with six
/// publishers at once). The stream sends its response head only after the opening, so
/// `open` now means "routed here".
struct RoutedReplaySource: ReplaySource {
    let store: RedisEventStore
    let registry: RedisRegistry
    /// How long an opening waits for the route; past it the stream opens anyway, as
    /// before, rather than hang on a Redis that does not answer.
    var routeWait: Duration = .seconds(1)

    func opening(client: ClientID, topics: [TopicName], lastEventID: String?) async -> ReplayOpening {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await registry.registered(MembershipChange(client: client, topics: topics)) }
            group.addTask { try? await Task.sleep(for: routeWait) }
            await group.next()
            group.cancelAll()
        }
        return await store.opening(client: client, topics: topics, lastEventID: lastEventID)
    }
}
