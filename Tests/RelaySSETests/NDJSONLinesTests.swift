import NIOCore
import Testing

@testable import RelayPublishing

@Suite struct NDJSONLinesTests {
    private func cut(_ text: String) -> [(Int, String)] {
        let body = ByteBuffer(string: text)
        return NDJSONLines(body).lines.map { line in
            (line.number, String(decoding: body.readableBytesView[line.range.lowerBound..<line.range.upperBound], as: UTF8.self))
        }
    }

    @Test func numbersCountBlankLinesAndTrimTrailingSpace() {
        let lines = cut("a\r\n\n  \t\nb \t\r\nc")
        #expect(lines.map(\.0) == [1, 4, 5])
        #expect(lines.map(\.1) == ["a", "b", "c"])
    }

    @Test func emptyBodiesAndTrailingNewlinesHoldNoLines() {
        #expect(cut("").isEmpty)
        #expect(cut("\n\n").isEmpty)
        #expect(cut("x\n").map(\.1) == ["x"])
    }

    @Test func leadingSpaceIsKeptForTheJSONDecoderToJudge() {
        #expect(cut(" {}\n").map(\.1) == [" {}"])
    }
}
