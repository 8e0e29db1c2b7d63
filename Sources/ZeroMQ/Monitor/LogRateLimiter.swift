import Foundation

/// Decides which of a stream of similar log lines to write, so a flood of
/// events (say, a peer reconnecting thousands of times a second) cannot fill
/// the log: in each window of `interval` seconds the first `burst` lines are
/// written and the rest only counted; the count is reported with the next
/// written line, or by ``summary(at:)`` once the window has passed.
///
/// Pure logic on a caller-supplied clock (seconds, monotonic); not thread-safe.
public struct LogRateLimiter: Sendable, Hashable {
    /// Lines written per window.
    public let burst: Int
    /// Window length, seconds.
    public let interval: Double
    private var windowStart = -Double.infinity
    private var writtenInWindow = 0
    /// Lines suppressed since the last written line or summary.
    public private(set) var suppressed = 0
    /// Lines suppressed in total.
    public private(set) var suppressedTotal = 0

    public enum Verdict: Sendable, Hashable {
        /// Write the line; `suppressedBefore` lines were dropped since the last one written.
        case write(suppressedBefore: Int)
        /// Drop the line (it is counted).
        case suppress
    }

    /// - Precondition: `burst >= 1`, `interval > 0`.
    public init(burst: Int = 10, interval: Double = 10) {
        precondition(burst >= 1 && interval > 0, "LogRateLimiter needs burst >= 1 and interval > 0")
        self.burst = burst
        self.interval = interval
    }

    /// Whether to write a line at time `now`.
    public mutating func admit(at now: Double) -> Verdict {
        if now - windowStart >= interval {
            windowStart = now
            writtenInWindow = 0
        }
        guard writtenInWindow < burst else {
            suppressed += 1
            suppressedTotal += 1
            return .suppress
        }
        writtenInWindow += 1
        defer { suppressed = 0 }
        return .write(suppressedBefore: suppressed)
    }

    /// Lines suppressed in a window that has ended by `now` and not reported
    /// yet (nil if none): call periodically so a flood that stopped is still
    /// summarised.
    public mutating func summary(at now: Double) -> Int? {
        guard suppressed > 0, now - windowStart >= interval else { return nil }
        defer { suppressed = 0 }
        return suppressed
    }
}

/// A thread-safe log of similar lines through a ``LogRateLimiter`` on the
/// monotonic clock: `write` passes a line on unless the window's burst is
/// used up; a suppressed count is appended to the next written line, and
/// ``flush()`` (call it periodically) reports a count whose window has ended.
public final class RateLimitedLog: Sendable {
    private let limiter: Locked<LogRateLimiter>
    private let what: String
    private let sink: @Sendable (String) -> Void
    private let start = ContinuousClock.now

    /// - Parameters:
    ///   - what: names the lines in summaries, e.g. "refused connections".
    ///   - sink: receives the lines to write, on the caller's thread.
    public init(burst: Int = 10, interval: Double = 10, what: String, sink: @escaping @Sendable (String) -> Void) {
        limiter = Locked(LogRateLimiter(burst: burst, interval: interval))
        self.what = what
        self.sink = sink
    }

    public func write(_ line: String) {
        let now = seconds()
        switch limiter.withLock({ $0.admit(at: now) }) {
        case .write(let suppressed) where suppressed > 0:
            sink("\(line) (\(suppressed) more \(what) were not logged)")
        case .write:
            sink(line)
        case .suppress:
            break
        }
    }

    /// Writes a summary of lines suppressed in a window that has ended.
    public func flush() {
        let now = seconds()
        let interval = limiter.withLock { $0.interval }
        if let count = limiter.withLock({ $0.summary(at: now) }) {
            sink("\(count) more \(what) in the last \(Int(interval)) s were not logged one by one")
        }
    }

    /// Lines suppressed so far in total.
    public var suppressedTotal: Int { limiter.withLock { $0.suppressedTotal } }

    private func seconds() -> Double {
        let d = start.duration(to: .now)
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
}
