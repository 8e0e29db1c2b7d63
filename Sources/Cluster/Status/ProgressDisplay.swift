import Foundation
import SpaceTime

/// One look at a running job, taken by the coordinator's driver for the terminal.
public struct ProgressSnapshot: Sendable, Hashable {
    /// A worker's last reported memory use.
    public struct WorkerMemory: Sendable, Hashable {
        public var id: String
        /// Resident set, bytes (0 before its first heartbeat).
        public var rss: UInt64
        /// Its memory limit, bytes.
        public var limit: UInt64

        public init(id: String, rss: UInt64, limit: UInt64) {
            self.id = id
            self.rss = rss
            self.limit = limit
        }
    }

    /// `extract`, `merge`, `train`, `evaluate`, `save`, `done`, `failed`.
    public var stage: String
    /// Monotonic seconds when the snapshot was taken.
    public var time: Double
    /// The stage's work done and total in its own unit (extract: bytes of the
    /// file read; train: trees checkpointed; evaluate: tasks done). The bar
    /// and the ETA follow these; `total` nil or 0 means unknown.
    public var done: Double
    public var total: Double?
    /// The unit of `done` and `total` (`bytes`, `trees`, `tasks`); its rate starts afresh when it changes.
    public var unit: String
    /// Rows read by the current pass over the data (extract), else nil.
    public var rows: UInt64?
    public var tasksDone: Int
    public var tasksTotal: Int
    public var treesDone: Int?
    public var treesTotal: Int?
    public var workers: [WorkerMemory]
    /// Monotonic seconds when the stage began, when known (else the first snapshot of it counts).
    public var stageStarted: Double?

    public init(
        stage: String, time: Double, done: Double = 0, total: Double? = nil, unit: String = "tasks", rows: UInt64? = nil,
        tasksDone: Int = 0, tasksTotal: Int = 0, treesDone: Int? = nil, treesTotal: Int? = nil,
        workers: [WorkerMemory] = []
    ) {
        self.stage = stage
        self.time = time
        self.done = done
        self.total = total
        self.unit = unit
        self.rows = rows
        self.tasksDone = tasksDone
        self.tasksTotal = tasksTotal
        self.treesDone = treesDone
        self.treesTotal = treesTotal
        self.workers = workers
    }
}

/// A rate smoothed over time (exponentially weighted, time constant
/// `halfLife` seconds), from a monotonically growing count.
public struct SmoothedRate: Sendable {
    public var halfLife: Double
    /// Units per second; nil until two samples at different times.
    public private(set) var perSecond: Double?
    private var last: (time: Double, count: Double)?

    public init(halfLife: Double = 3) { self.halfLife = halfLife }

    /// Adds a sample: `count` units done by `time` seconds.
    public mutating func add(_ count: Double, at time: Double) {
        guard let last else {
            self.last = (time, count)
            return
        }
        let dt = time - last.time
        guard dt > 0 else { return }
        if count < last.count {  // a new pass or a rerun started over: measure afresh
            self.last = (time, count)
            perSecond = nil
            return
        }
        let instant = (count - last.count) / dt
        if let previous = perSecond {
            let keep = pow(0.5, dt / max(halfLife, 1e-9))
            perSecond = keep * previous + (1 - keep) * instant
        } else {
            perSecond = instant
        }
        self.last = (time, count)
    }

    public mutating func reset() {
        perSecond = nil
        last = nil
    }
}

/// The terminal's progress display as pure logic: fed snapshots, it keeps
/// smoothed rates per stage and renders the bar line for a terminal width, the
/// final line a finished stage leaves, and the plain log line used when
/// standard error is not a terminal.
///
/// Bar line: `train     [#########.......]  57/100 trees  1/1 tasks  0.8 trees/s  ETA 0:53 | w1 66/512 MiB`.
/// It never exceeds the width: the worker list goes first, then the bar, then
/// the line is cut.
public struct ProgressDisplay: Sendable {
    /// The stage being shown, when it started, and its smoothed rates.
    private var stage: String?
    private var stageStart = 0.0
    private var unitRate = SmoothedRate()
    private var rowRate = SmoothedRate()
    private var last: ProgressSnapshot?

    public init() {}

    /// Takes a snapshot. Returns the final lines of stages that ended since the
    /// last snapshot (print them permanently above the bar).
    public mutating func update(_ s: ProgressSnapshot, padded: Bool = true) -> [String] {
        var finished: [String] = []
        if s.stage != stage {
            if let line = finishLine(padded: padded, endedAt: s.time, complete: s.stage != "failed") { finished.append(line) }
            stage = s.stage
            stageStart = min(s.time, s.stageStarted ?? s.time)
            unitRate.reset()
            rowRate.reset()
        } else if s.unit != last?.unit {
            unitRate.reset()
        }
        unitRate.add(s.done, at: s.time)
        if let rows = s.rows { rowRate.add(Double(rows), at: s.time) }
        last = s
        return finished
    }

    /// The line a finished (or the last) stage leaves, or nil before any snapshot
    /// and for the terminal stages (`done`, `failed`). The stage ended at
    /// `endedAt` (default: the last snapshot's time); `complete`: it ended
    /// because its work was done (its task and tree counts are shown full).
    public func finishLine(padded: Bool = true, endedAt: Double? = nil, complete: Bool = false) -> String? {
        guard var s = last, !["done", "failed"].contains(s.stage) else { return nil }
        if complete {
            s.tasksDone = s.tasksTotal
            s.treesDone = s.treesTotal ?? s.treesDone
        }
        let elapsed = max(0, (endedAt ?? s.time) - stageStart)
        var parts = [padded ? Self.pad(s.stage, 8) : s.stage, "finished in " + Self.clock(elapsed)]
        if let rows = s.rows { parts.append("\(Self.count(Double(rows))) rows") }
        if let trees = s.treesDone, let total = s.treesTotal { parts.append("\(trees)/\(total) trees") }
        if s.tasksTotal > 0 { parts.append("\(s.tasksDone)/\(s.tasksTotal) tasks") }
        if let rows = s.rows, elapsed > 0 { parts.append("\(Self.count(Double(rows) / elapsed)) rows/s") }
        return parts.joined(separator: "  ")
    }

    /// Seconds left at the smoothed rate, or nil when the total or the rate is unknown or zero.
    public var eta: Double? {
        guard let s = last, let total = s.total, total > 0, let rate = unitRate.perSecond, rate > 0 else { return nil }
        return max(0, total - s.done) / rate
    }

    /// The bar line for a terminal `width` columns wide (at most `width` characters).
    public func barLine(width: Int) -> String {
        guard let s = last else { return "" }
        let width = max(1, width)
        let head = Self.pad(s.stage, 8)
        var info: [String] = []
        if let trees = s.treesDone, let total = s.treesTotal { info.append("\(trees)/\(total) trees") }
        if s.tasksTotal > 0 { info.append("\(s.tasksDone)/\(s.tasksTotal) tasks") }
        if s.rows != nil {
            info.append("\(Self.count(Double(s.rows ?? 0))) rows")
            if let r = rowRate.perSecond, r > 0 { info.append("\(Self.count(r)) rows/s") }
        } else if s.treesDone != nil, let r = unitRate.perSecond {
            info.append(String(format: "%.1f trees/s", r))
        }
        if s.total.map({ $0 > 0 }) == true { info.append("ETA " + (eta.map(Self.clock) ?? "?")) }
        info.append(Self.clock(max(0, s.time - stageStart)))
        let text = info.joined(separator: "  ")
        let memory =
            s.workers.isEmpty ? "" : " | " + s.workers.map { "\($0.id) \(Self.memory($0.rss, of: $0.limit))" }.joined(separator: " ")
        let fraction = s.total.flatMap { $0 > 0 ? min(1, max(0, s.done / $0)) : nil }

        func bar(_ cells: Int) -> String {
            guard let fraction else { return "" }
            let filled = Int((fraction * Double(cells)).rounded(.down))
            return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: cells - filled) + "]  "
        }
        let fixed = head.count + 2 + text.count
        let minimumBar = 10
        let maximumBar = 30
        for withMemory in [true, false] {
            let extra = withMemory ? memory.count : 0
            if fraction == nil {
                if fixed + extra <= width { return head + "  " + text + (withMemory ? memory : "") }
                continue
            }
            let room = width - fixed - extra - 4  // "[", "]" and two spaces
            if room >= minimumBar { return head + "  " + bar(min(maximumBar, room)) + text + (withMemory ? memory : "") }
        }
        return String((head + "  " + text).prefix(width))
    }

    /// The plain log line (no terminal control), e.g.
    /// `stage train; tasks 1/3; trees 27/100 (0.8 trees/s, ETA 1:32); workers w1 66 MiB/512 MiB`.
    public func plainLine() -> String {
        guard let s = last else { return "" }
        var parts = ["stage \(s.stage)"]
        if s.tasksTotal > 0 { parts.append("tasks \(s.tasksDone)/\(s.tasksTotal)") }
        var rate = ""
        if let rows = s.rows {
            var line = "\(rows) rows read"
            if let r = rowRate.perSecond {
                line += " (\(Int(r)) rows/s" + (s.total != nil ? ", ETA " + (eta.map(Self.clock) ?? "?") : "") + ")"
            }
            parts.append(line)
        } else if let trees = s.treesDone, let total = s.treesTotal {
            if let r = unitRate.perSecond, r > 0 { rate = String(format: " (%.1f trees/s, ETA ", r) + (eta.map(Self.clock) ?? "?") + ")" }
            parts.append("trees \(trees)/\(total)" + rate)
        }
        if !s.workers.isEmpty {
            parts.append("workers " + s.workers.map { "\($0.id) \(ByteCount($0.rss))/\(ByteCount($0.limit))" }.joined(separator: ", "))
        }
        return parts.joined(separator: "; ")
    }

    // MARK: Formatting

    static func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }

    /// `m:ss`, or `h:mm:ss` from an hour.
    static func clock(_ seconds: Double) -> String {
        let t = seconds.isFinite ? Int(seconds.rounded()) : 0
        let (h, m, s) = (t / 3600, (t / 60) % 60, t % 60)
        return h > 0 ? String(format: "%d:%02d:%02d", h, m, s) : String(format: "%d:%02d", m, s)
    }

    /// `950`, `9500`, `12.3K`, `4.56M`, `1.2G`.
    static func count(_ value: Double) -> String {
        let v = max(0, value.isFinite ? value : 0)
        switch v {
        case ..<10_000: return String(Int(v.rounded(.down)))
        case ..<1_000_000: return String(format: "%.1fK", v / 1e3)
        case ..<10_000_000: return String(format: "%.2fM", v / 1e6)
        case ..<1_000_000_000: return String(format: "%.1fM", v / 1e6)
        default: return String(format: "%.1fG", v / 1e9)
        }
    }

    /// `66/512 MiB` (both in the limit's unit).
    static func memory(_ used: UInt64, of limit: UInt64) -> String {
        let (unit, name): (Double, String) = limit >= 1 << 30 ? (Double(1 << 30), "GiB") : (Double(1 << 20), "MiB")
        let fmt = limit >= 1 << 30 ? "%.1f/%.1f " : "%.0f/%.0f "
        return String(format: fmt, Double(used) / unit, Double(limit) / unit) + name
    }
}

/// How progress is shown (`--progress`).
public enum ProgressMode: String, Sendable, CaseIterable {
    /// A bar when standard error is a terminal (and `TERM` is not `dumb`), else plain lines.
    case auto
    /// A redrawn bar line (ANSI: carriage return and erase-line).
    case bar
    /// A plain log line every few seconds.
    case plain
    /// No progress lines (log lines still print).
    case none

    /// What `auto` becomes for this terminal; the other modes stay as they are.
    public func resolved(isTTY: Bool, term: String?) -> ProgressMode {
        guard self == .auto else { return self }
        return isTTY && term != nil && term != "dumb" && term != "" ? .bar : .plain
    }
}
