import NIOCore

/// Where publish requests go: the relay's Unix socket, or a peer's HTTP port (nchan's publisher
/// location, Pushpin's publish API).
enum PublishEndpoint: Sendable {
    case unixSocket(String)
    case tcp(SocketAddress)
}
