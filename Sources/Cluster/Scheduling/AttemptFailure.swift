import SpaceTime

/// Why an attempt ended without success, phrased for the user.
public struct AttemptFailure: Sendable, Hashable, CustomStringConvertible {
    public enum Cause: Sendable, Hashable {
        /// The worker process died from a signal (seen by the launcher), e.g. SIGKILL from the OOM killer.
        case killed(signal: Int32)
        /// The worker process exited with a status while running the task.
        case exited(status: Int32)
        /// No heartbeat for this many seconds.
        case silent(seconds: Double)
        /// The task's lease ran out although the worker kept heartbeating.
        case leaseExpired
        /// The worker's connection closed.
        case disconnected
        /// The worker reported a failure (or the coordinator found one in what it reported).
        case reported(TaskFailure)
        /// The worker refused the task (e.g. it cannot fit its memory limit).
        case refused(message: String)
    }

    public var cause: Cause
    public var workerID: String
    public var pid: Int?
    /// Last peak RSS reported by the worker, bytes.
    public var peakRSS: UInt64?
    /// The worker's memory limit, bytes.
    public var memoryLimit: UInt64?

    public init(_ cause: Cause, workerID: String, pid: Int? = nil, peakRSS: UInt64? = nil, memoryLimit: UInt64? = nil) {
        self.cause = cause
        self.workerID = workerID
        self.pid = pid
        self.peakRSS = peakRSS
        self.memoryLimit = memoryLimit
    }

    /// Whether running the task again (elsewhere) can help.
    public var retryable: Bool {
        switch cause {
        case .reported(let failure): failure.retryable
        default: true
        }
    }

    private var memory: String {
        switch (peakRSS, memoryLimit) {
        case (let rss?, let limit?): " at \(ByteCount(rss)) of its \(ByteCount(limit)) limit"
        case (let rss?, nil): " at \(ByteCount(rss))"
        case (nil, let limit?): " (limit \(ByteCount(limit)))"
        default: ""
        }
    }

    public var description: String {
        let who = "worker \(workerID)" + (pid.map { " (pid \($0))" } ?? "")
        switch cause {
        case .killed(let signal):
            return "\(who) was killed by signal \(signal)\(memory)"
        case .exited(let status):
            return "\(who) exited with status \(status)\(memory)"
        case .silent(let seconds):
            return "\(who) stopped responding (no heartbeat for \(String(format: "%.1f", seconds)) s)"
        case .leaseExpired:
            return "\(who) did not renew its lease"
        case .disconnected:
            return "\(who) disconnected"
        case .reported(let failure):
            return "\(who) reported: \(failure.message)"
        case .refused(let message):
            return "\(who) refused it: \(message)"
        }
    }
}
