import Foundation
import GRDB

/// An attempt with its task, as the job report's timeline shows it.
public struct TimelineAttempt: Sendable, Hashable {
    public var attempt: AttemptRecord
    public var task: TaskName
    /// When the worker accepted the lease (TaskStarted), if it did.
    public var runningAt: Timestamp?
}

extension JobStore {
    /// When the job was created (seconds since 1970), or nil without a job.
    public func jobCreatedAt() throws -> Timestamp? {
        try read { db in try Double.fetchOne(db, sql: "SELECT created_at FROM job") }
    }

    /// Every attempt of every task, in id order.
    public func allAttempts() throws -> [TimelineAttempt] {
        try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT a.*, t.kind AS task_kind, t.partition AS task_partition, t.variant AS task_variant
                    FROM attempts a JOIN tasks t ON t.id = a.task_id ORDER BY a.id
                    """
            ).map { row in
                TimelineAttempt(
                    attempt: Self.attemptRecord(row),
                    task: TaskName(
                        TaskKind(rawValue: row["task_kind"]) ?? .extract, row["task_partition"],
                        TaskVariant(key: row["task_variant"]) ?? .whole),
                    runningAt: row["running_at"])
            }
        }
    }

    /// Per partition, the attempt that stored each checkpointed tree, by tree index.
    public func treeAttempts() throws -> [Int: [Int: UInt64]] {
        try read { db in
            var out: [Int: [Int: UInt64]] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT partition, tree_index, attempt_id FROM trees") {
                out[row["partition"], default: [:]][row["tree_index"]] = UInt64(row["attempt_id"] as Int64)
            }
            return out
        }
    }
}
