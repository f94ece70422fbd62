import Logging
import NIOPosix
import RelayCore
import RelayPublishing
import RelaySSE

/// Reloads (SIGHUP): what can change in a running process, and what needs a restart.
extension RelayApplication {
    func makeSupervision(
        probes: [Supervision.Probe], sseServer: SSEServer, publishServer: PublishServer, hub: Hub<SSEStream>?,
        status: @escaping @Sendable () -> String
    ) -> Supervision {
        let running = configuration
        let logLevel = self.logLevel
        let reloadConfiguration = self.reloadConfiguration
        let logger = self.logger
        let jwtAuthenticator = self.jwtAuthenticator
        return Supervision(
            notifier: notifier, loops: Array(MultiThreadedEventLoopGroup.singleton.makeIterator()), probes: probes,
            logger: logger, status: status
        ) {
            let fresh: RelayConfiguration
            do {
                fresh = try await reloadConfiguration()
            } catch {
                return "\(error)"
            }
            for (key, changed) in Self.restartOnlyChanges(from: running, to: fresh) where changed {
                logger.warning("this setting changes only with a restart; keeping the running value", metadata: ["key": "\(key)"])
            }
            logLevel?.level = fresh.logLevel
            var sse = fresh.sse
            sse.host = running.sse.host
            sse.port = running.sse.port
            sse.nodeID = running.sse.nodeID
            sseServer.reconfigure(sse)
            var publish = fresh.publish
            publish.socketPath = running.publish.socketPath
            publish.socketMode = running.publish.socketMode
            publish.socketGroup = running.publish.socketGroup
            publishServer.reconfigure(publish)
            hub?.reconfigure(history: fresh.history)
            if case .jwt(let jwt) = fresh.auth, let authenticator = jwtAuthenticator.value {
                await authenticator.replace(jwt)
                logger.notice("subscriber auth keys reloaded", metadata: ["auth.keys": "\(jwt.keys.summary)"])
            }
            return nil
        }
    }

    /// Settings a reload cannot apply to a running process.
    static func restartOnlyChanges(from running: RelayConfiguration, to fresh: RelayConfiguration) -> [(String, Bool)] {
        [
            ("listen", running.sse.host != fresh.sse.host || running.sse.port != fresh.sse.port),
            ("node-id", running.nodeID != fresh.nodeID),
            ("publish.socket", running.publish.socketPath != fresh.publish.socketPath),
            ("publish.socket-mode", running.publish.socketMode != fresh.publish.socketMode),
            ("publish.socket-group", running.publish.socketGroup != fresh.publish.socketGroup),
            ("http.request-timeout", running.sse.requestTimeout != fresh.sse.requestTimeout),
            ("log.format", running.logFormat != fresh.logFormat),
            ("metrics.listen", running.metrics != fresh.metrics),
            ("redis/amqp", (running.cluster == nil) != (fresh.cluster == nil)),
            ("auth.mode", running.auth.mode != fresh.auth.mode),
        ]
    }

}
