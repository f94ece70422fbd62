import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The lines of an NDJSON body, found in one pass with `memchr`.
///
/// Bulk publishing cuts up to `publish.max-batch-events` lines per request; the generic
/// `split` over a `ByteBufferView` cost a few percent of a bulk run in profiles, and the
/// limit check needs the count before any line is decoded, so the cut is done once here.
struct NDJSONLines {
    struct Line {
        /// 1-based, counting blank lines, as error reports name them.
        var number: Int
        /// Readable-bytes offsets, without the LF and without trailing CR, space or tab.
        var range: Range<Int>
    }

    /// Lines that hold something, in order.
    private(set) var lines: [Line] = []

    init(_ body: ByteBuffer) {
        body.withUnsafeReadableBytes { bytes in
            guard let base = bytes.baseAddress else { return }
            var start = 0
            var number = 0
            while start <= bytes.count {
                number += 1
                let remaining = bytes.count - start
                let end: Int
                if remaining > 0, let found = memchr(base + start, Int32(UInt8(ascii: "\n")), remaining) {
                    end = base.distance(to: UnsafeRawPointer(found))
                } else {
                    end = bytes.count
                }
                var trimmed = end
                while trimmed > start, Self.isTrailingSpace(bytes[trimmed - 1]) {
                    trimmed -= 1
                }
                if trimmed > start {
                    lines.append(Line(number: number, range: start..<trimmed))
                }
                start = end + 1
            }
        }
    }

    private static func isTrailingSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "\r") || byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
    }
}
