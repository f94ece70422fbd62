import Foundation

/// Which local users and groups may publish, beyond being able to open the socket file.
///
/// The identity is the kernel's: `SO_PEERCRED` gives the uid, primary gid and pid the
/// publisher had when it connected, which it cannot forge. Supplementary groups are not in
/// `SO_PEERCRED`; they are read from `/proc/PID/status` right after connecting, and only
/// trusted when that file still shows the same real uid and gid (so a pid that was reused
/// in between cannot lend its groups).
public struct PublisherAccess: Sendable, Equatable {
    /// Users allowed to publish; with `allowedGIDs`, empty sets mean anyone.
    public var allowedUIDs: Set<UInt32>
    public var allowedGIDs: Set<UInt32>

    public init(allowedUIDs: Set<UInt32> = [], allowedGIDs: Set<UInt32> = []) {
        self.allowedUIDs = allowedUIDs
        self.allowedGIDs = allowedGIDs
    }

    /// No restriction beyond the socket file's permissions.
    public var isOpen: Bool { allowedUIDs.isEmpty && allowedGIDs.isEmpty }

    /// Whether a peer may publish: its uid is listed, or its primary or a supplementary
    /// group is.
    public func allows(uid: UInt32, gid: UInt32, supplementaryGroups: [UInt32]) -> Bool {
        if isOpen { return true }
        if allowedUIDs.contains(uid) || allowedGIDs.contains(gid) { return true }
        return supplementaryGroups.contains(where: allowedGIDs.contains)
    }

    /// The supplementary groups of process `pid`, if `/proc` still shows it with real uid
    /// `uid` and real gid `gid`; empty otherwise.
    static func supplementaryGroups(pid: Int32, uid: UInt32, gid: UInt32) -> [UInt32] {
        guard pid > 0, let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return [] }
        return supplementaryGroups(status: status, uid: uid, gid: gid)
    }

    /// Parses `/proc/PID/status` text (split out so it can be tested without a process).
    static func supplementaryGroups(status: String, uid: UInt32, gid: UInt32) -> [UInt32] {
        var realUID: UInt32?
        var realGID: UInt32?
        var groups: [UInt32] = []
        for line in status.split(separator: "\n") {
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let field = parts.first else { continue }
            switch field {
            case "Uid:": realUID = parts.dropFirst().first.flatMap { UInt32($0) }
            case "Gid:": realGID = parts.dropFirst().first.flatMap { UInt32($0) }
            case "Groups:": groups = parts.dropFirst().compactMap { UInt32($0) }
            default: continue
            }
        }
        guard realUID == uid, realGID == gid else { return [] }
        return groups
    }
}
