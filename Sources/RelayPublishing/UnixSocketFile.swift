import Foundation
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// The publish socket's file: created atomically with its final mode, replaced when stale,
/// never stolen from a live relay, and removed only if it is still ours.
struct UnixSocketFile: Sendable {
    let path: String

    enum Failure: Error, CustomStringConvertible {
        case pathTooLong(String)
        case notASocket(String)
        case inUse(String)
        case system(String, path: String, errno: Int32)

        var description: String {
            switch self {
            case .pathTooLong(let path):
                "publish socket path is too long for a Unix socket (108 bytes at most): \(path)"
            case .notASocket(let path):
                "\(path) exists and is not a socket; refusing to replace it"
            case .inUse(let path):
                "another process is listening on \(path) (is another sse-relay running?)"
            case .system(let what, let path, let code):
                "\(what) \(path): \(String(cString: strerror(code)))"
            }
        }
    }

    /// Checks what is at `path` and clears a stale socket. Creates the parent directory if
    /// it is missing, so `/run/sse-relay/publish.sock` works without a tmpfiles entry.
    func prepare(group: any EventLoopGroup) async throws {
        // Our temporary name adds up to ~24 bytes; sun_path holds 107 plus NUL.
        guard path.utf8.count + 24 < 108 else { throw Failure.pathTooLong(path) }
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty, !FileManager.default.fileExists(atPath: directory) {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            } catch {
                throw Failure.system("cannot create directory", path: directory, errno: errno)
            }
        }
        var info = stat()
        guard lstat(path, &info) == 0 else { return }  // nothing there
        guard (info.st_mode & S_IFMT) == S_IFSOCK else { throw Failure.notASocket(path) }
        // A socket that accepts a connection belongs to a live process.
        let live = (try? await ClientBootstrap(group: group)
            .connectTimeout(.seconds(1))
            .connect(unixDomainSocketPath: path).get())
        if let live {
            try? await live.close()
            throw Failure.inUse(path)
        }
        guard unlink(path) == 0 || errno == ENOENT else { throw Failure.system("cannot remove stale socket", path: path, errno: errno) }
    }

    /// Binds under a temporary name, sets `group` and `mode`, then renames into place: the
    /// socket never exists at `path` with looser permissions or another group than configured.
    func bind(mode: UInt32, group: UInt32? = nil, _ bindTo: (String) async throws -> any Channel) async throws -> any Channel {
        let temporary = path + ".\(getpid()).tmp"
        unlink(temporary)
        let channel = try await bindTo(temporary)
        do {
            // Group first, then mode: with 0660 the group's members can connect only once the
            // file has the configured group.
            if let group {
                guard chown(temporary, uid_t.max, gid_t(group)) == 0 else { throw Failure.system("cannot set group \(group) of", path: temporary, errno: errno) }
            }
            guard chmod(temporary, mode_t(mode)) == 0 else { throw Failure.system("cannot set mode of", path: temporary, errno: errno) }
            guard rename(temporary, path) == 0 else { throw Failure.system("cannot move socket into place at", path: path, errno: errno) }
        } catch {
            try? await channel.close()
            unlink(temporary)
            throw error
        }
        return channel
    }

    /// Removes the socket file unless another process has replaced it since.
    func remove() {
        unlink(path)
    }
}
