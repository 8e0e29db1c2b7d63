import Foundation
import GRDB

/// Tree-sharded evaluation in the store: a partition's evaluate task split in tree-slice
/// variants, each slice's `SliceScores` kept as an artifact until the coordinator has
/// combined them into the partition's evaluation.
extension JobStore {
    /// The artifact holding the slice scores of an evaluate task with a tree-range variant.
    public static func sliceScoresArtifact(_ name: TaskName) -> String { "slice-scores/\(name)" }

    /// The artifact holding the metrics of a cross-validation evaluate task (one partition's
    /// rows of one fold), until the coordinator merges each fold's.
    public static func foldEvaluationArtifact(_ name: TaskName) -> String { "fold-evaluation/\(name)" }

    /// Splits the pending, never attempted whole evaluate task of `partition` into one
    /// task per tree slice of the model (`ranges`: contiguous, from 0), recorded as a
    /// `tasksSplit` event; the whole task's row becomes the first slice. Returns false,
    /// changing nothing, when that task is not pending or has attempts.
    @discardableResult
    public func splitEvaluateTask(partition: Int, into ranges: [Range<Int>], now: Timestamp) throws -> Bool {
        try write { db in
            let whole = TaskName(.evaluate, partition)
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT * FROM tasks WHERE kind = ? AND partition = ? AND variant = ''",
                    arguments: [TaskKind.evaluate.rawValue, partition])
            else { return false }
            let record = Self.taskRecord(row)
            let attempts = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM attempts WHERE task_id = ?", arguments: [record.id]) ?? 0
            guard record.state == .pending, attempts == 0 else { return false }
            var next = 0
            for r in ranges {
                guard r.lowerBound == next, !r.isEmpty else {
                    throw JobStoreError(.invalidArgument, "\(whole): tree slices \(ranges) are not contiguous from 0", path: path)
                }
                next = r.upperBound
            }
            guard ranges.count >= 2 else {
                throw JobStoreError(.invalidArgument, "\(whole): \(ranges.count) tree slice(s) do not split it", path: path)
            }
            try db.execute(sql: "UPDATE tasks SET variant = ? WHERE id = ?", arguments: [TaskVariant.trees(ranges[0]).key, record.id])
            for r in ranges.dropFirst() {
                try db.execute(
                    sql: "INSERT INTO tasks (kind, partition, variant, state) VALUES (?, ?, ?, ?)",
                    arguments: [TaskKind.evaluate.rawValue, partition, TaskVariant.trees(r).key, TaskState.pending.rawValue])
            }
            let names = ranges.map { TaskName(.evaluate, partition, .trees($0)).description }.joined(separator: ", ")
            try appendEvent(
                db, .tasksSplit, task: whole, "\(whole) split in \(ranges.count) tree slices (tree-sharded scoring): \(names)", now: now)
            return true
        }
    }

    /// Stores a partition's evaluation combined from its slices' scores (attributed to `attemptID`, the last slice's).
    public func putEvaluation(partition: Int, attemptID: UInt64, result: Data) throws {
        try write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO evaluations (partition, attempt_id, result) VALUES (?, ?, ?)",
                arguments: [partition, Int64(attemptID), result])
        }
    }
}
