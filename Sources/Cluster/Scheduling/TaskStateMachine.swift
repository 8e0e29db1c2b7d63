/// Where a task is in its life. `lost` means the last attempt ended without
/// success (worker died, lease expired, retryable failure) and the task waits
/// to be leased again; `done` and `failed` are final.
public enum TaskState: String, Sendable, Hashable, CaseIterable, Codable {
    case pending
    case leased
    case running
    case checkpointed
    case done
    case failed
    case lost

    public var isActive: Bool { self == .leased || self == .running || self == .checkpointed }
    public var isFinal: Bool { self == .done || self == .failed }
    public var isSchedulable: Bool { self == .pending || self == .lost }
}

/// An illegal task transition or a message about an attempt that is not the
/// task's current one.
public struct TaskTransitionError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        /// The event is not allowed in the task's current state.
        case illegalTransition
        /// The event names an attempt other than the current one (a stale result).
        case staleAttempt
    }

    public var code: Code
    public var task: TaskName
    public var state: TaskState
    public var event: String
    public var attemptID: UInt64?

    public var description: String {
        switch code {
        case .illegalTransition:
            "\(task): \(event) is not allowed in state \(state.rawValue)"
        case .staleAttempt:
            "\(task): \(event) from attempt \(attemptID.map(String.init) ?? "?") which is not the current attempt"
        }
    }
}

/// The state of one task and the legal transitions between states:
///
///     pending ─lease→ leased ─start→ running ─checkpoint→ checkpointed ─checkpoint→ …
///        ↑               │               │                     │
///        │               └───────────────┴──── complete ───────┴──→ done
///        │               └───── fail / lose ───┴───────────────┴──→ lost ─lease→ leased …
///        │                                                         └──→ failed (retries used up
///        └──────────────── abandon (coordinator restart, cancel) ──────        or not retryable)
///
/// Every event names its attempt; an event for any other attempt is rejected
/// as stale, so results of a reassigned attempt can never change the task.
public struct TaskStateMachine: Sendable, Hashable {
    public let name: TaskName
    /// Attempts allowed before the task fails for good (≥ 1).
    public let maxAttempts: Int
    public private(set) var state: TaskState
    /// The attempt that holds (or last held) the task.
    public private(set) var attemptID: UInt64?
    /// Attempts that ended in failure or loss; abandoned attempts do not count.
    public private(set) var failures: Int

    public init(
        name: TaskName, maxAttempts: Int, state: TaskState = .pending,
        attemptID: UInt64? = nil, failures: Int = 0
    ) {
        self.name = name
        self.maxAttempts = max(1, maxAttempts)
        self.state = state
        self.attemptID = attemptID
        self.failures = failures
    }

    /// Whether another failure would still leave an attempt.
    public var retriesLeft: Int { max(0, maxAttempts - failures) }

    /// pending/lost → leased under `attemptID`.
    public mutating func lease(attemptID: UInt64) throws(TaskTransitionError) {
        guard state.isSchedulable else { throw illegal("lease") }
        self.attemptID = attemptID
        state = .leased
    }

    /// leased → running (the worker accepted the lease).
    public mutating func start(attemptID: UInt64) throws(TaskTransitionError) {
        try current(attemptID, "start")
        guard state == .leased else { throw illegal("start") }
        state = .running
    }

    /// running/checkpointed → checkpointed (progress was made durable).
    public mutating func checkpoint(attemptID: UInt64) throws(TaskTransitionError) {
        try current(attemptID, "checkpoint")
        guard state == .running || state == .checkpointed else { throw illegal("checkpoint") }
        state = .checkpointed
    }

    /// running/checkpointed → done.
    public mutating func complete(attemptID: UInt64) throws(TaskTransitionError) {
        try current(attemptID, "complete")
        guard state == .running || state == .checkpointed else { throw illegal("complete") }
        state = .done
    }

    /// An active attempt failed (reported failure, worker died, lease expired).
    /// The task becomes `lost` (to be rerun) while attempts remain and the
    /// failure is retryable, `failed` otherwise. Returns the new state.
    @discardableResult
    public mutating func fail(attemptID: UInt64, retryable: Bool = true) throws(TaskTransitionError) -> TaskState {
        try current(attemptID, "fail")
        guard state.isActive else { throw illegal("fail") }
        failures += 1
        state = retryable && failures < maxAttempts ? .lost : .failed
        return state
    }

    /// An active attempt ends through no fault of the task (coordinator
    /// restart, cancellation, rebalancing): back to `pending`, not counted.
    public mutating func abandon(attemptID: UInt64) throws(TaskTransitionError) {
        try current(attemptID, "abandon")
        guard state.isActive else { throw illegal("abandon") }
        state = .pending
    }

    private func current(_ attemptID: UInt64, _ event: String) throws(TaskTransitionError) {
        if attemptID != self.attemptID {
            throw TaskTransitionError(code: .staleAttempt, task: name, state: state, event: event, attemptID: attemptID)
        }
    }

    private func illegal(_ event: String) -> TaskTransitionError {
        TaskTransitionError(code: .illegalTransition, task: name, state: state, event: event, attemptID: attemptID)
    }
}
