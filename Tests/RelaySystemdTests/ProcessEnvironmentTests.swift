#if canImport(Glibc)
import Glibc
#endif
import Testing

/// Parent of every suite that changes the process environment or its low file
/// descriptors. `.serialized` applies to nested suites too, so none of them runs alongside
/// another; suites that touch nothing global stay parallel.
@Suite(.serialized)
enum ProcessEnvironmentTests {}

/// Sets (or, with `nil`, unsets) variables for the duration of `body`, then restores them.
func withEnvironment<Result>(_ values: [String: String?], _ body: () throws -> Result) rethrows -> Result {
    var saved: [String: String?] = [:]
    for (name, value) in values {
        saved[name] = getenv(name).map { String(cString: $0) }
        if let value {
            setenv(name, value, 1)
        } else {
            unsetenv(name)
        }
    }
    defer {
        for (name, value) in saved {
            if let value {
                setenv(name, value, 1)
            } else {
                unsetenv(name)
            }
        }
    }
    return try body()
}

/// A short private directory under /tmp (Unix socket paths are limited to 107 bytes).
func makeTemporaryDirectory() throws -> String {
    var template = Array("/tmp/relay-systemd-XXXXXX".utf8CString)
    let made = template.withUnsafeMutableBufferPointer { buffer in
        mkdtemp(buffer.baseAddress!).map { String(cString: $0) }
    }
    return try #require(made, "mkdtemp: \(String(cString: strerror(errno)))")
}

func removeDirectory(_ path: String) {
    if let directory = opendir(path) {
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name != "." && name != ".." {
                unlink(path + "/" + name)
            }
        }
        closedir(directory)
    }
    rmdir(path)
}
