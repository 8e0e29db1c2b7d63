import CLZ4
import Foundation
import Locking

#if canImport(Glibc)
    import Glibc
#endif

/// One reading of this process's memory use (bytes), from `/proc/self/status` and the memory cgroup.
public struct MemorySample: Sendable, Equatable {
    /// Resident anonymous memory (`RssAnon`): heap and stacks, what a limit is about.
    public var rssAnon: Int
    /// Total resident set (`VmRSS`), including mapped files and shared libraries.
    public var rss: Int
    /// Peak resident set (`VmHWM`).
    public var peakRSS: Int
    /// The memory cgroup's limit, if one is set (v2 `memory.max`, v1 `memory.limit_in_bytes`).
    public var cgroupLimit: Int?
    /// The memory cgroup's usage (v2 `memory.current`, v1 `memory.usage_in_bytes`).
    public var cgroupUsage: Int?

    public init(rssAnon: Int, rss: Int, peakRSS: Int, cgroupLimit: Int? = nil, cgroupUsage: Int? = nil) {
        self.rssAnon = rssAnon
        self.rss = rss
        self.peakRSS = peakRSS
        self.cgroupLimit = cgroupLimit
        self.cgroupUsage = cgroupUsage
    }

    /// Reads the current process's sample. Fields that cannot be read are 0 / nil.
    public static func current() -> MemorySample {
        var s = parseStatus(Sys.readSmallFile("/proc/self/status") ?? "")
        if let cg = CgroupPaths.ofSelf() {
            s.cgroupLimit = cg.limit()
            s.cgroupUsage = cg.usage()
        }
        return s
    }

    /// Parses `/proc/<pid>/status` text (kB values) into a sample.
    public static func parseStatus(_ text: String) -> MemorySample {
        var s = MemorySample(rssAnon: 0, rss: 0, peakRSS: 0)
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon]
            guard key == "RssAnon" || key == "VmRSS" || key == "VmHWM" else { continue }
            let kb = Int(line[line.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "") ?? 0
            switch key {
            case "RssAnon": s.rssAnon = kb * 1024
            case "VmRSS": s.rss = kb * 1024
            default: s.peakRSS = kb * 1024
            }
        }
        return s
    }
}

/// How close memory use is to the limit.
public enum MemoryPressure: Int, Sendable, Comparable, CustomStringConvertible {
    /// Below the high-water mark.
    case normal
    /// At or above `high` × limit: spill buffers now.
    case high
    /// At or above `critical` × limit: spill everything, trim the heap, stop growing.
    case critical

    /// Classifies `used` bytes against `limit` with fractional thresholds.
    public static func classify(used: Int, limit: Int, high: Double = 0.80, critical: Double = 0.95) -> MemoryPressure {
        guard limit > 0 else { return .normal }
        let f = Double(used) / Double(limit)
        return f >= critical ? .critical : f >= high ? .high : .normal
    }

    public static func < (a: MemoryPressure, b: MemoryPressure) -> Bool { a.rawValue < b.rawValue }
    public var description: String { ["normal", "high", "critical"][rawValue] }
}

/// Watches this process's memory against a limit and calls handlers under pressure.
///
/// Usage is `RssAnon` (the process's own anonymous memory) or the cgroup's usage when that is
/// higher; the limit is the given one or the cgroup's when that is lower. Handlers run on the
/// thread that calls `check()` (or on the monitor's thread after `start(interval:)`), in
/// registration order, and should spill buffers; after them, at `.critical`, the monitor calls
/// `malloc_trim` to return freed memory to the OS.
public final class MemoryMonitor: @unchecked Sendable {  // `handlers`, `poller` and `_lastLevel` under `lock`; the rest immutable
    public typealias Handler = @Sendable (MemoryPressure, MemorySample) -> Void

    public let limit: Int
    public let high: Double
    public let critical: Double
    private var handlers: [Handler] = []
    private let lock = Lock()
    /// The polling thread's wake-up (signalled by `stop()`) and exit signals, while one runs.
    private var poller: (wake: DispatchSemaphore, exited: DispatchSemaphore, thread: Thread)?
    private var _lastLevel: MemoryPressure = .normal
    /// The last level seen by `check()`.
    public var lastLevel: MemoryPressure { lock.withLock { _lastLevel } }

    public init(limit: MemorySize, high: Double = 0.80, critical: Double = 0.95) {
        self.limit = limit.bytes
        self.high = high
        self.critical = critical
    }

    deinit { stop() }

    /// Registers a handler called whenever `check()` finds pressure `.high` or `.critical`.
    public func onPressure(_ handler: @escaping Handler) {
        lock.withLock { handlers.append(handler) }
    }

    /// The effective used bytes and limit for a sample.
    public func usage(_ s: MemorySample) -> (used: Int, limit: Int) {
        var used = s.rssAnon
        var lim = limit
        if let u = s.cgroupUsage, let l = s.cgroupLimit, l < lim {
            used = max(used, u)
            lim = l
        }
        return (used, lim)
    }

    /// Samples memory, classifies it, runs handlers when under pressure; returns the level.
    @discardableResult
    public func check() -> MemoryPressure {
        let s = MemorySample.current()
        let (used, lim) = usage(s)
        let level = MemoryPressure.classify(used: used, limit: lim, high: high, critical: critical)
        let hs = lock.withLock { () -> [Handler] in
            _lastLevel = level
            return handlers
        }
        if level >= .high {
            for h in hs { h(level, s) }
            if level == .critical { MemoryMonitor.returnFreeMemoryToOS() }
        }
        return level
    }

    /// Polls `check()` every `interval` seconds on a background thread until `stop()`.
    /// Calling it while a poller runs does nothing.
    public func start(interval: Double = 0.1) {
        let t: Thread? = lock.withLock {
            guard poller == nil else { return nil }
            let wake = DispatchSemaphore(value: 0)
            let exited = DispatchSemaphore(value: 0)
            let t = Thread { [weak self] in
                defer { exited.signal() }
                while let monitor = self, monitor.isPolling(wake) {
                    monitor.check()
                    _ = wake.wait(timeout: .now() + max(0, interval))
                }
            }
            poller = (wake, exited, t)
            return t
        }
        t?.start()
    }

    private func isPolling(_ wake: DispatchSemaphore) -> Bool { lock.withLock { poller?.wake === wake } }

    /// Stops the background thread (if started) and waits for it to end, so no handler runs
    /// after `stop()` returns (unless called from a handler on that thread).
    public func stop() {
        guard
            let p = lock.withLock({ () -> (wake: DispatchSemaphore, exited: DispatchSemaphore, thread: Thread)? in
                defer { poller = nil }
                return poller
            })
        else { return }
        p.wake.signal()
        if p.thread != Thread.current { p.exited.wait() }
    }

    /// Gives freed heap pages back to the OS (`malloc_trim(0)`), lowering RSS after a spill.
    public static func returnFreeMemoryToOS() {
        _ = spacetime_malloc_trim()
    }
}

/// What `profile` measured about a block.
public struct ProfileReport: Sendable, CustomStringConvertible {
    public var name: String
    /// Wall-clock seconds.
    public var seconds: Double
    /// `RssAnon` before and after the block.
    public var rssAnonBefore: Int
    public var rssAnonAfter: Int
    /// Peak RSS during the block minus RSS before it (exact when the kernel lets us reset
    /// `VmHWM` through `/proc/self/clear_refs`; otherwise an upper bound on the growth).
    public var peakRSSDelta: Int

    public var description: String {
        let t = seconds < 1 ? "\((seconds * 1000).rounded() / 1) ms" : "\((seconds * 100).rounded() / 100) s"
        return "\(name): \(t), peak RSS +\(ByteCount(peakRSSDelta)), anon \(ByteCount(rssAnonBefore)) → \(ByteCount(rssAnonAfter))"
    }
}

/// Runs `body` and reports its wall time and peak RSS growth (for stage reports).
public func profile<T>(_ name: String, _ body: () throws -> T) rethrows -> (value: T, report: ProfileReport) {
    let before = MemorySample.current()
    // Reset VmHWM to the current RSS so the peak we read afterwards belongs to this block.
    let reset = (try? Sys.writeSmallFile("/proc/self/clear_refs", "5")) != nil
    let baseline = reset ? MemorySample.current().peakRSS : before.rss
    var start = timespec()
    clock_gettime(CLOCK_MONOTONIC, &start)
    let value = try body()
    var end = timespec()
    clock_gettime(CLOCK_MONOTONIC, &end)
    let after = MemorySample.current()
    let seconds = Double(end.tv_sec - start.tv_sec) + Double(end.tv_nsec - start.tv_nsec) / 1e9
    let report = ProfileReport(
        name: name, seconds: seconds, rssAnonBefore: before.rssAnon, rssAnonAfter: after.rssAnon,
        peakRSSDelta: max(0, after.peakRSS - baseline))
    return (value, report)
}
