/// Delays between reconnect rounds: doubling from the first delay up to the maximum, back to
/// the first after a success. Doubling keeps a flapping broker from being hammered by every
/// node at once, the cap keeps recovery within seconds once it is back.
struct Backoff {
    let initial: Duration
    let maximum: Duration
    private var current: Duration

    init(initial: Duration, maximum: Duration) {
        self.initial = initial
        self.maximum = maximum
        self.current = initial
    }

    mutating func next() -> Duration {
        let delay = current
        current = min(current * 2, maximum)
        return delay
    }

    mutating func reset() {
        current = initial
    }
}
