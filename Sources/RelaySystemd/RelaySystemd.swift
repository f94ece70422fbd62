// The systemd adapter: readiness, status and watchdog notifications (SystemdNotifier),
// sockets passed by socket activation (SocketActivation), and native journal logging
// (JournaldLogHandler, LogFormat, LogLevelSource, DynamicLevelLogHandler).
//
// Only Internal/Libsystemd.swift imports CSystemd; everything else here is plain Swift, so
// the field mapping and the notify message format are testable without libsystemd.
