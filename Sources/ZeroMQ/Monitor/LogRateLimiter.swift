import Foundation
import Locking
import Logging

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

/// Rate-limits log lines per source: each source (a peer, a host and the
/// reason it was refused) gets its own ``LogRateLimiter``, so a flood from
/// one source cannot hide another's lines. At most `maxSources` sources are
/// tracked; lines from further sources share one limiter, so neither the log
/// nor this table grows without bound (at most `(maxSources + 1) × burst`
/// lines per window). Every line is cut to `maxLineBytes`.
///
/// Pure logic on a caller-supplied monotonic clock (seconds); not thread-safe.
public struct KeyedLogLimiter<Source: Hashable & Sendable & CustomStringConvertible>: Sendable {
    public let burst: Int
    /// Window length, seconds.
    public let interval: Double
    public let maxSources: Int
    public let maxLineBytes: Int
    /// Names the lines in counts and summaries, e.g. "warnings".
    public let what: String
    /// Names a source in counts and summaries, e.g. "peer" ("from this peer", "from other peers").
    public let sourceKind: String
    private var limiters: [Source: LogRateLimiter] = [:]
    private var lastSeen: [Source: Double] = [:]
    private var overflow: LogRateLimiter

    /// - Precondition: `burst >= 1`, `interval > 0`, `maxSources >= 0`.
    public init(
        burst: Int, interval: Double, maxSources: Int, maxLineBytes: Int = 400, what: String,
        sourceKind: String = "source"
    ) {
        precondition(maxSources >= 0, "KeyedLogLimiter needs maxSources >= 0")
        self.burst = burst
        self.interval = interval
        self.maxSources = maxSources
        self.maxLineBytes = maxLineBytes
        self.what = what
        self.sourceKind = sourceKind
        overflow = LogRateLimiter(burst: burst, interval: interval)
    }

    /// The line to write for `line` from `source` at `now`, or nil to drop it
    /// (counted); a count of the source's dropped lines is appended to the
    /// next line written for it.
    public mutating func admit(_ line: String, from source: Source, at now: Double) -> String? {
        let verdict: LogRateLimiter.Verdict
        if limiters[source] != nil || limiters.count < maxSources {
            verdict = limiters[source, default: LogRateLimiter(burst: burst, interval: interval)].admit(at: now)
            lastSeen[source] = now
        } else {
            verdict = overflow.admit(at: now)
        }
        guard case .write(let suppressed) = verdict else { return nil }
        let cut = Self.truncate(line, to: maxLineBytes)
        return suppressed > 0 ? "\(cut) (\(suppressed) more \(what) from this \(sourceKind) were not logged)" : cut
    }

    /// Summaries of lines suppressed in windows that have ended; forgets
    /// sources that were quiet for a whole window.
    public mutating func summaries(at now: Double) -> [String] {
        var lines: [String] = []
        for source in Array(limiters.keys) {
            if let count = limiters[source]?.summary(at: now) {
                lines.append("\(count) more \(what) from \(source) in the last \(Int(interval)) s were not logged one by one")
            } else if limiters[source]?.suppressed == 0, now - (lastSeen[source] ?? now) >= interval {
                limiters[source] = nil
                lastSeen[source] = nil
            }
        }
        if let count = overflow.summary(at: now) {
            lines.append("\(count) more \(what) from other \(sourceKind)s in the last \(Int(interval)) s were not logged one by one")
        }
        return lines
    }

    /// Sources currently tracked.
    public var trackedSources: Int { limiters.count }

    /// `line` cut to at most `maxBytes` UTF-8 bytes on a scalar boundary, its length appended when cut.
    public static func truncate(_ line: String, to maxBytes: Int) -> String {
        guard line.utf8.count > maxBytes else { return line }
        var cut = ""
        var bytes = 0
        for scalar in line.unicodeScalars {
            bytes += String(scalar).utf8.count
            if bytes > maxBytes { break }
            cut.unicodeScalars.append(scalar)
        }
        return cut + "… (\(line.utf8.count) bytes)"
    }
}

/// A thread-safe, per-source rate-limited log (a ``KeyedLogLimiter`` on the
/// monotonic clock) in front of a `Logger`: `write` passes a line on unless its
/// source's burst is used up; a suppressed count is appended to the source's next
/// written line, and ``flush()`` (call it periodically) reports counts whose window
/// has ended.
public final class RateLimitedLog: Sendable {
    private let limiter: Locked<KeyedLogLimiter<String>>
    private let suppressed = Locked(0)
    private let logger: Logger
    private let level: Logger.Level
    private let start = ContinuousClock.now

    /// - Parameters:
    ///   - burst: lines per source per window.
    ///   - maxSources: sources with a limiter of their own; the rest share one.
    ///   - what: names the lines in summaries, e.g. "refused connections".
    ///   - sourceKind: names a source in summaries, e.g. "host".
    ///   - logger: writes the lines, at `level`, on the caller's thread.
    public init(
        burst: Int = 10, interval: Double = 10, maxSources: Int = 16, what: String, sourceKind: String = "source",
        logger: Logger, level: Logger.Level = .warning
    ) {
        limiter = Locked(
            KeyedLogLimiter(
                burst: burst, interval: interval, maxSources: maxSources, maxLineBytes: 1000,
                what: what, sourceKind: sourceKind))
        self.logger = logger
        self.level = level
    }

    /// Writes `line` (with `metadata`) unless `source` (say, a host and the reason) has used up its burst.
    public func write(_ line: String, source: String, metadata: Logger.Metadata? = nil) {
        let now = seconds()
        if let written = limiter.withLock({ $0.admit(line, from: source, at: now) }) {
            logger.log(level: level, "\(written)", metadata: metadata)
        } else {
            suppressed.withLock { $0 += 1 }
        }
    }

    /// Writes summaries of lines suppressed in windows that have ended.
    public func flush() {
        let now = seconds()
        for line in limiter.withLock({ $0.summaries(at: now) }) { logger.log(level: level, "\(line)") }
    }

    /// Lines suppressed so far in total.
    public var suppressedTotal: Int { suppressed.withLock { $0 } }

    private func seconds() -> Double {
        let d = start.duration(to: .now)
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
}
