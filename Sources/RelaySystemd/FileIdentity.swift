#if canImport(Glibc)
import Glibc
#endif

/// A file's device and inode: what `JOURNAL_STREAM` names and `fstat(2)` reports.
struct FileIdentity: Equatable, Sendable {
    var device: UInt64
    var inode: UInt64

    init(device: UInt64, inode: UInt64) {
        self.device = device
        self.inode = inode
    }

    /// `nil` when the descriptor is closed.
    init?(descriptor: Int32) {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            return nil
        }
        self.init(device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
    }

    /// Parses systemd's `DEV:INODE`, both decimal.
    init?(journalStream: String) {
        let parts = journalStream.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else {
            return nil
        }
        self.init(device: device, inode: inode)
    }
}
