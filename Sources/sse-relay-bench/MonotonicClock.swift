#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// CLOCK_MONOTONIC in nanoseconds.
///
/// The publisher stamps events with this value and the receivers subtract it from their own reading,
/// so both sides must use the same system-wide clock: the relay runs on the same machine, and
/// CLOCK_MONOTONIC is shared by all processes (unlike `ContinuousClock`, whose epoch is not specified).
/// It is a vDSO call, cheap enough to read once per received buffer.
enum MonotonicClock {
    @inline(__always)
    static func nanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    static func seconds(from start: UInt64, to end: UInt64) -> Double {
        end > start ? Double(end - start) / 1e9 : 0
    }
}
