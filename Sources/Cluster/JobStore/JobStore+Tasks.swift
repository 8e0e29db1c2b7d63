import Foundation
import GRDB
import SpaceTime

extension JobStore {
    // MARK: Reading tasks and attempts

    public func tasks() throws -> [TaskRecord] {
        try read { db in try Row.fetchAll(db, sql: "SELECT * FROM tasks ORDER BY id").map(Self.taskRecord) }
    }

    public func task(_ name: TaskName) throws -> TaskRecord {
        try read { db in try Self.task(db, name, path: path) }
    }

    public func attempts(of name: TaskName) throws -> [AttemptRecord] {
        try read { db in
            let t = try Self.task(db, name, path: path)
            return try Row.fetchAll(db, sql: "SELECT * FROM attempts WHERE task_id = ? ORDER BY id", arguments: [t.id])
                .map(Self.attemptRecord)
        }
    }

    public func attempt(_ attemptID: UInt64) throws -> AttemptRecord? {
        try read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM attempts WHERE id = ?", arguments: [Int64(attemptID)]).map(Self.attemptRecord)
        }
    }

    public func leases() throws -> [LeaseRecord] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM leases ORDER BY attempt_id").map(Self.leaseRecord)
        }
    }

    /// Leases whose deadline is at or before `now`.
    public func expiredLeases(now: Timestamp) throws -> [LeaseRecord] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM leases WHERE deadline <= ? ORDER BY attempt_id", arguments: [now])
                .map(Self.leaseRecord)
        }
    }

    // MARK: Transitions

    /// Leases `name` to `workerID` under a new attempt id, valid until `leaseDeadline`.
    /// `firstTree` is where a train attempt starts. Returns the attempt id.
    public func beginAttempt(
        _ name: TaskName, workerID: String, leaseDeadline: Timestamp, firstTree: Int? = nil,
        now: Timestamp
    ) throws -> UInt64 {
        try write { db in
            var machine = try machine(db, name)
            try db.execute(
                sql: "INSERT INTO attempts (task_id, worker_id, started_at, first_tree) VALUES (?, ?, ?, ?)",
                arguments: [machine.record.id, workerID, now, firstTree])
            let attemptID = UInt64(db.lastInsertedRowID)
            try apply(&machine) { m throws(TaskTransitionError) in try m.lease(attemptID: attemptID) }
            try save(db, machine)
            try db.execute(
                sql: "INSERT INTO leases (attempt_id, worker_id, deadline) VALUES (?, ?, ?)",
                arguments: [Int64(attemptID), workerID, leaseDeadline])
            let trees = name.kind == .train && firstTree != nil ? " at tree \(firstTree!)" : ""
            try appendEvent(
                db, .attemptStarted, task: name, attemptID: attemptID, workerID: workerID,
                "\(name) attempt \(attemptID) leased to \(workerID)\(trees)", now: now)
            return attemptID
        }
    }

    /// The worker accepted the lease (TaskStarted).
    public func attemptRunning(_ attemptID: UInt64, now: Timestamp) throws -> AttemptWriteOutcome {
        try write { db in
            guard var machine = try activeMachine(db, attemptID, what: "started", now: now) else {
                return .discarded(reason: "attempt \(attemptID) is not active")
            }
            try apply(&machine.task) { m throws(TaskTransitionError) in try m.start(attemptID: attemptID) }
            try save(db, machine.task)
            try db.execute(sql: "UPDATE attempts SET running_at = ? WHERE id = ?", arguments: [now, Int64(attemptID)])
            return .applied
        }
    }

    /// Extends an active attempt's lease (its worker's heartbeat listed it).
    public func renewLease(_ attemptID: UInt64, deadline: Timestamp) throws {
        try write { db in
            try db.execute(
                sql: "UPDATE leases SET deadline = MAX(deadline, ?) WHERE attempt_id = ?",
                arguments: [deadline, Int64(attemptID)])
        }
    }

    /// The attempt finished its task. `result` is stored for evaluate tasks.
    public func completeAttempt(
        _ attemptID: UInt64, peakRSS: UInt64?, result: Data? = nil,
        now: Timestamp
    ) throws -> AttemptWriteOutcome {
        try write { db in
            if let done = try Row.fetchOne(
                db,
                sql: """
                    SELECT a.outcome FROM attempts a JOIN tasks t ON t.id = a.task_id
                    WHERE a.id = ? AND t.current_attempt = a.id AND t.state = 'done'
                    """, arguments: [Int64(attemptID)]), (done["outcome"] as String?) == AttemptOutcome.done.rawValue
            {
                return .duplicate
            }
            guard var machine = try activeMachine(db, attemptID, what: "done", now: now) else {
                return .discarded(reason: "attempt \(attemptID) is not active")
            }
            let name = machine.task.record.name
            if name.kind == .train {
                let range = try treeRange(db, name)
                let have =
                    try Int.fetchOne(
                        db, sql: "SELECT COUNT(*) FROM trees WHERE partition = ? AND tree_index >= ? AND tree_index < ?",
                        arguments: [name.partition, range.lowerBound, range.upperBound]) ?? 0
                let want = range.count
                if have < want {
                    throw JobStoreError(.invalidArgument, "\(name) reported done with \(have) of \(want) trees checkpointed", path: path)
                }
            }
            if name.kind == .evaluate {
                guard let result else { throw JobStoreError(.invalidArgument, "\(name) done without a result", path: path) }
                if name.variant == .whole {
                    try db.execute(
                        sql: "INSERT OR REPLACE INTO evaluations (partition, attempt_id, result) VALUES (?, ?, ?)",
                        arguments: [name.partition, Int64(attemptID), result])
                } else if name.variant.fold != nil {  // one (partition, fold)'s metrics, merged per fold by the coordinator
                    try db.execute(
                        sql: "INSERT OR REPLACE INTO artifacts (name, data, stored_at) VALUES (?, ?, ?)",
                        arguments: [Self.foldEvaluationArtifact(name), result, now])
                } else {  // one tree slice's scores, combined by the coordinator once every slice is done
                    try db.execute(
                        sql: "INSERT OR REPLACE INTO artifacts (name, data, stored_at) VALUES (?, ?, ?)",
                        arguments: [Self.sliceScoresArtifact(name), result, now])
                }
            }
            try apply(&machine.task) { m throws(TaskTransitionError) in try m.complete(attemptID: attemptID) }
            try save(db, machine.task)
            try end(db, attemptID, .done, reason: nil, peakRSS: peakRSS, now: now)
            try appendEvent(
                db, .attemptDone, task: name, attemptID: attemptID, workerID: machine.workerID,
                "\(name) done on \(machine.workerID)\(peakRSS.map { ", peak RSS \(ByteCount($0))" } ?? "")", now: now)
            return .applied
        }
    }

    /// The attempt ended without success: `.failed` (the worker reported it) or
    /// `.lost` (worker died or lease expired). The task is rerun (state `lost`)
    /// while attempts remain and `retryable`, else it is `failed`. Returns the
    /// task's new state, or nil when the attempt was stale (and discarded).
    @discardableResult
    public func failAttempt(
        _ attemptID: UInt64, outcome: AttemptOutcome, reason: String, peakRSS: UInt64?,
        retryable: Bool = true, now: Timestamp
    ) throws -> TaskState? {
        guard outcome == .failed || outcome == .lost else {
            throw JobStoreError(.invalidArgument, "failAttempt takes .failed or .lost, not \(outcome)", path: path)
        }
        return try write { db in
            guard var machine = try activeMachine(db, attemptID, what: outcome.rawValue, now: now) else { return nil }
            let name = machine.task.record.name
            let state = try apply(&machine.task) { m throws(TaskTransitionError) in
                try m.fail(attemptID: attemptID, retryable: retryable)
            }
            try save(db, machine.task)
            try end(db, attemptID, outcome, reason: reason, peakRSS: peakRSS, now: now)
            try appendEvent(
                db, outcome == .lost ? .attemptLost : .attemptFailed, task: name, attemptID: attemptID,
                workerID: machine.workerID, "\(name) attempt \(attemptID) on \(machine.workerID) \(outcome.rawValue): \(reason)",
                now: now)
            if state == .failed {
                try appendEvent(
                    db, .taskFailed, task: name, attemptID: attemptID, workerID: machine.workerID,
                    "\(name) failed after \(machine.task.failures) attempt(s)", now: now)
            }
            return state
        }
    }

    /// One active attempt ends through no fault of its task (its worker left
    /// cleanly, or the coordinator cancelled it): the task returns to pending
    /// without counting a failure. Returns false when the attempt was stale.
    @discardableResult
    public func abandonAttempt(_ attemptID: UInt64, reason: String, now: Timestamp) throws -> Bool {
        try write { db in
            guard var active = try activeMachine(db, attemptID, what: "abandon", now: now) else { return false }
            try apply(&active.task) { m throws(TaskTransitionError) in try m.abandon(attemptID: attemptID) }
            try save(db, active.task)
            try end(db, attemptID, .abandoned, reason: reason, peakRSS: nil, now: now)
            try appendEvent(
                db, .attemptAbandoned, task: active.task.record.name, attemptID: attemptID, workerID: active.workerID,
                "\(active.task.record.name) attempt \(attemptID) on \(active.workerID) abandoned: \(reason)", now: now)
            return true
        }
    }

    /// For `--resume`: every task a previous coordinator left leased or running
    /// goes back to pending (not counted as a failure); their attempts end as
    /// `abandoned` and their leases are dropped. Returns the abandoned attempts.
    public func abandonActiveAttempts(reason: String, now: Timestamp) throws -> [(task: TaskName, attemptID: UInt64)] {
        try write { db in
            var abandoned: [(TaskName, UInt64)] = []
            let active = try Row.fetchAll(db, sql: "SELECT * FROM tasks WHERE state IN ('leased', 'running', 'checkpointed') ORDER BY id")
            for row in active {
                var m = try machine(db, Self.taskRecord(row).name)
                guard let attemptID = m.machine.attemptID else { continue }
                try apply(&m) { m throws(TaskTransitionError) in try m.abandon(attemptID: attemptID) }
                try save(db, m)
                try end(db, attemptID, .abandoned, reason: reason, peakRSS: nil, now: now)
                try appendEvent(
                    db, .attemptAbandoned, task: m.record.name, attemptID: attemptID,
                    "\(m.record.name) attempt \(attemptID) abandoned: \(reason)", now: now)
                abandoned.append((m.record.name, attemptID))
            }
            try appendEvent(db, .resumed, "resumed; \(abandoned.count) running task(s) will be rerun", now: now)
            return abandoned
        }
    }

    // MARK: Internals

    struct StoredMachine {
        var record: TaskRecord
        var machine: TaskStateMachine
        var failures: Int { machine.failures }
    }

    struct ActiveAttempt {
        var task: StoredMachine
        var workerID: String
    }

    func machine(_ db: Database, _ name: TaskName) throws -> StoredMachine {
        let record = try Self.task(db, name, path: path)
        let maxAttempts = try jobSpecIn(db).maxAttempts
        return StoredMachine(
            record: record,
            machine: TaskStateMachine(
                name: name, maxAttempts: maxAttempts, state: record.state,
                attemptID: record.currentAttempt, failures: record.failures))
    }

    func jobSpecIn(_ db: Database) throws -> JobSpec {
        guard let spec = try Self.unjson(JobSpec.self, try String.fetchOne(db, sql: "SELECT spec FROM job")) else {
            throw JobStoreError(.noJob, "no job in this store", path: path)
        }
        return spec
    }

    /// The task of `attemptID` if that attempt is its current, active one;
    /// otherwise records a `staleDiscarded` event and returns nil.
    func activeMachine(_ db: Database, _ attemptID: UInt64, what: String, now: Timestamp) throws -> ActiveAttempt? {
        guard let a = try Row.fetchOne(db, sql: "SELECT * FROM attempts WHERE id = ?", arguments: [Int64(attemptID)]) else {
            try appendEvent(db, .staleDiscarded, attemptID: attemptID, "\(what) from unknown attempt \(attemptID) discarded", now: now)
            return nil
        }
        let attempt = Self.attemptRecord(a)
        guard let t = try Row.fetchOne(db, sql: "SELECT * FROM tasks WHERE id = ?", arguments: [attempt.taskID]) else {
            throw JobStoreError(.notFound, "attempt \(attemptID) refers to a missing task", path: path)
        }
        let record = Self.taskRecord(t)
        guard record.currentAttempt == attemptID, record.state.isActive else {
            let why =
                record.currentAttempt == attemptID
                ? "the task is \(record.state.rawValue)"
                : "superseded by attempt \(record.currentAttempt.map(String.init) ?? "none")"
            try appendEvent(
                db, .staleDiscarded, task: record.name, attemptID: attemptID, workerID: attempt.workerID,
                "\(what) from \(record.name) attempt \(attemptID) on \(attempt.workerID) discarded: \(why)", now: now)
            return nil
        }
        return ActiveAttempt(task: try machine(db, record.name), workerID: attempt.workerID)
    }

    @discardableResult
    func apply<T>(_ m: inout StoredMachine, _ change: (inout TaskStateMachine) throws(TaskTransitionError) -> T) throws -> T {
        do {
            return try change(&m.machine)
        } catch {
            throw JobStoreError(.illegalTransition, error.description, path: path)
        }
    }

    func save(_ db: Database, _ m: StoredMachine) throws {
        try db.execute(
            sql: "UPDATE tasks SET state = ?, current_attempt = ?, failures = ? WHERE id = ?",
            arguments: [m.machine.state.rawValue, m.machine.attemptID.map { Int64($0) }, m.machine.failures, m.record.id])
    }

    func end(
        _ db: Database, _ attemptID: UInt64, _ outcome: AttemptOutcome, reason: String?, peakRSS: UInt64?,
        now: Timestamp
    ) throws {
        try db.execute(
            sql: "UPDATE attempts SET ended_at = ?, outcome = ?, reason = ?, peak_rss = ? WHERE id = ?",
            arguments: [now, outcome.rawValue, reason, peakRSS.map { Int64(clamping: $0) }, Int64(attemptID)])
        try db.execute(sql: "DELETE FROM leases WHERE attempt_id = ?", arguments: [Int64(attemptID)])
    }

    static func task(_ db: Database, _ name: TaskName, path: String?) throws -> TaskRecord {
        guard
            let row = try Row.fetchOne(
                db, sql: "SELECT * FROM tasks WHERE kind = ? AND partition = ? AND variant = ?",
                arguments: [name.kind.rawValue, name.partition, name.variant.key])
        else {
            throw JobStoreError(.notFound, "no task \(name)", path: path)
        }
        return taskRecord(row)
    }

    static func taskRecord(_ row: Row) -> TaskRecord {
        TaskRecord(
            id: row["id"],
            name: TaskName(
                TaskKind(rawValue: row["kind"]) ?? .extract, row["partition"],
                TaskVariant(key: row["variant"] ?? "") ?? .whole),
            state: TaskState(rawValue: row["state"]) ?? .pending,
            currentAttempt: (row["current_attempt"] as Int64?).map { UInt64($0) },
            failures: row["failures"])
    }

    static func attemptRecord(_ row: Row) -> AttemptRecord {
        AttemptRecord(
            id: UInt64(row["id"] as Int64), taskID: row["task_id"], workerID: row["worker_id"],
            startedAt: row["started_at"], endedAt: row["ended_at"],
            outcome: (row["outcome"] as String?).flatMap(AttemptOutcome.init(rawValue:)),
            reason: row["reason"], peakRSS: (row["peak_rss"] as Int64?).map { UInt64($0) },
            firstTree: row["first_tree"])
    }

    static func leaseRecord(_ row: Row) -> LeaseRecord {
        LeaseRecord(attemptID: UInt64(row["attempt_id"] as Int64), workerID: row["worker_id"], deadline: row["deadline"])
    }
}
