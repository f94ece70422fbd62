/// Failures worth telling apart in the connect summary, which groups failures by description.
enum BenchError: Error, CustomStringConvertible {
    case httpStatus(Int)
    case closedBeforeFirstBytes
    case firstBytesTimeout
    case badURL(String)
    case publisherClosed

    var description: String {
        switch self {
        case .httpStatus(let code): return "HTTP status \(code)"
        case .closedBeforeFirstBytes: return "closed before first bytes"
        case .firstBytesTimeout: return "timed out waiting for first bytes"
        case .badURL(let url): return "cannot use URL \(url): expected http://IP:PORT"
        case .publisherClosed: return "publisher connection closed"
        }
    }
}
