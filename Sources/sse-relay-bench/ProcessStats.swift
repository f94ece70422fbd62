#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Resource figures for the relay (from /proc, Linux only) and for the benchmark itself.
enum ProcessStats {
    /// VmRSS of `pid` in KiB.
    static func residentKiB(pid: Int32) -> Int? {
        guard let text = readProcFile("/proc/\(pid)/status") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return line.split(whereSeparator: { $0 == " " || $0 == "\t" })
                .dropFirst().first.flatMap { Int($0) }
        }
        return nil
    }

    /// Memory of a server that may be several processes (nginx's master and workers, Pushpin's
    /// five): the sum of each one's proportional set size (Pss), so pages shared between them
    /// (nchan's shared memory zone, libraries) count once, not once per process. Falls back to
    /// VmRSS where smaps_rollup is missing. Nil if no pid could be read.
    static func memoryKiB(pids: [Int32]) -> Int? {
        var total: Int?
        for pid in pids {
            if let kib = proportionalKiB(pid: pid) ?? residentKiB(pid: pid) {
                total = (total ?? 0) + kib
            }
        }
        return total
    }

    /// Pss of `pid` in KiB, from /proc/PID/smaps_rollup.
    static func proportionalKiB(pid: Int32) -> Int? {
        guard let text = readProcFile("/proc/\(pid)/smaps_rollup") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("Pss:") {
            return line.split(whereSeparator: { $0 == " " || $0 == "\t" })
                .dropFirst().first.flatMap { Int($0) }
        }
        return nil
    }

    /// Summed CPU seconds of several processes; nil if none could be read.
    static func cpuSeconds(pids: [Int32]) -> Double? {
        var total: Double?
        for pid in pids {
            if let seconds = cpuSeconds(pid: pid) {
                total = (total ?? 0) + seconds
            }
        }
        return total
    }

    /// utime + stime of `pid` in seconds.
    static func cpuSeconds(pid: Int32) -> Double? {
        guard let text = readProcFile("/proc/\(pid)/stat"),
              let close = text.lastIndex(of: ")")
        else { return nil }
        // The command name may contain spaces; fields after it start at field 3 (state).
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else {
            return nil
        }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// This process's user + system CPU seconds.
    static func ownCPUSeconds() -> Double {
        var usage = rusage()
        #if canImport(Glibc)
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        #else
        getrusage(RUSAGE_SELF, &usage)
        #endif
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// Raises the open-file soft limit to the hard limit: 10k sockets exceed the usual 1024.
    /// Returns the resulting soft limit.
    @discardableResult
    static func raiseOpenFileLimit() -> Int {
        var limit = rlimit()
        #if canImport(Glibc)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        guard getrlimit(resource, &limit) == 0 else { return -1 }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(resource, &limit)
            _ = getrlimit(resource, &limit)
        }
        return Int(clamping: limit.rlim_cur)
    }

    /// /proc files report size 0, so read until EOF rather than by size.
    private static func readProcFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
