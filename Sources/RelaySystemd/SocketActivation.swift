/// The listening sockets a service manager passed to this process (`systemd.socket`,
/// `systemd-socket-activate`): they were bound before the relay started, so a restart
/// never refuses a connection and the relay needs no privileges to bind them.
///
/// Hand a descriptor to NIO with `ServerBootstrap.withBoundSocket(_:)`.
public enum SocketActivation {
    /// The name libsystemd gives a descriptor without `FileDescriptorName=`.
    public static let unnamed = "unknown"

    /// The passed descriptors keyed by their `FileDescriptorName=` (e.g. `http`, `publish`);
    /// empty when the process was not socket-activated.
    ///
    /// Reads `LISTEN_PID` / `LISTEN_FDS` / `LISTEN_FDNAMES` once and unsets them, so a
    /// second call returns nothing and child processes do not inherit them. When several
    /// descriptors share a name the first wins; the others stay open (systemd keeps its own
    /// copies listening anyway) and unused.
    public static func listeners() -> [String: Int32] {
        byName(Libsystemd.listenFileDescriptorsWithNames())
    }

    /// Whether `fd` is a listening stream socket: a Unix one when `unixPath`, else TCP over
    /// IPv4 or IPv6. Use it to reject a unit file that passes the wrong kind of socket
    /// under a name.
    public static func isSocket(_ fd: Int32, unixPath: Bool) -> Bool {
        unixPath ? Libsystemd.isListeningUnixStreamSocket(fd) : Libsystemd.isListeningInetStreamSocket(fd)
    }

    static func byName(_ descriptors: [(descriptor: Int32, name: String)]) -> [String: Int32] {
        var listeners: [String: Int32] = [:]
        for (descriptor, name) in descriptors where listeners[name] == nil {
            listeners[name] = descriptor
        }
        return listeners
    }
}
