import Foundation
import Locking
import Logging
import SpaceTime

/// Watches this process's anonymous resident memory against its own limit — the coordinator's `--memory-limit`
/// — and logs when use first crosses 80 %, 95 % or the limit, and when it is
/// back under 80 %. Nothing is stopped: a process without a cgroup cannot be held to a
/// limit, only told (and at 95 % it returns freed heap pages to the OS).
public final class MemoryWatch: @unchecked Sendable {  // `reported` and `timer` under `lock`
    /// How close use is to the limit.
    public enum Level: Int, Sendable, Comparable {
        case normal, high, critical, over

        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }

        /// Classifies `used` bytes against `limit` (80 % high, 95 % critical, above the limit over).
        public static func of(used: Int, limit: Int) -> Level {
            guard limit > 0 else { return .normal }
            if used > limit { return .over }
            return switch MemoryPressure.classify(used: used, limit: limit) {
            case .normal: .normal
            case .high: .high
            case .critical: .critical
            }
        }
    }

    /// What to log after a sample at level `now`, given the highest level
    /// `reported` since use was last normal: each rise above it once, and the
    /// return to normal. Returns the new highest reported level and the line.
    public static func report(after reported: Level, now: Level, who: String, used: Int, limit: Int)
        -> (reported: Level, line: (Logger.Level, String)?)
    {
        let use = "\(who) uses \(ByteCount(used)) of its \(ByteCount(limit)) --memory-limit"
        if now == .normal {
            return (.normal, reported > .normal ? (.info, "\(use): back under 80 %") : nil)
        }
        guard now > reported else { return (reported, nil) }
        switch now {
        case .over: return (now, (.error, "\(use): OVER its limit (not enforced; give it more memory or use more partitions)"))
        case .critical: return (now, (.warning, "\(use) (over 95 %)"))
        default: return (now, (.warning, "\(use) (over 80 %)"))
        }
    }

    private let limit: Int
    private let who: String
    private let logger: Logger
    private let lock = Lock()
    private var reported = Level.normal
    private var timer: DispatchSourceTimer?

    public init(who: String, limit: MemorySize, logger: Logger) {
        self.limit = limit.bytes
        self.who = who
        self.logger = logger
    }

    /// Samples now: logs a change of level, returns the level.
    @discardableResult
    public func check() -> Level {
        // The process's own anonymous memory: a cgroup's usage would count the page
        // cache of the CSV it streams, which the kernel reclaims before any OOM.
        let used = MemorySample.current().rssAnon
        let now = Level.of(used: used, limit: limit)
        if now >= .critical { MemoryMonitor.returnFreeMemoryToOS() }
        let line = lock.withLock { () -> (Logger.Level, String)? in
            let step = Self.report(after: reported, now: now, who: who, used: used, limit: limit)
            reported = step.reported
            return step.line
        }
        if let (severity, text) = line { logger.log(level: severity, "\(text)") }
        return now
    }

    /// Samples now and then every `interval` seconds until `stop()`.
    public func start(interval: Double = 1) {
        check()
        let t = DispatchSource.makeTimerSource(queue: .global())
        t.schedule(deadline: .now() + interval, repeating: interval)
        t.setEventHandler { [weak self] in self?.check() }
        lock.withLock { timer = t }
        t.resume()
    }

    public func stop() {
        lock.withLock {
            timer?.cancel()
            timer = nil
        }
    }
}
