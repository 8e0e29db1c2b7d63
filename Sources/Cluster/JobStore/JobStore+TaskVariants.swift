import Foundation
import GRDB

extension JobStore {
    /// Tasks keyed by (kind, partition, variant): the `tasks` table is rebuilt with a
    /// `variant` column (`TaskVariant.key`, '' for a whole partition) and the unique key
    /// widened to it (SQLite cannot alter a constraint in place); every existing task
    /// keeps its id and becomes `whole`, so a store from before resumes as it was.
    /// Events gain the variant of the task they name.
    static func registerTaskVariantMigration(_ m: inout DatabaseMigrator) {
        m.registerMigration("v3 task variants") { db in
            try db.execute(
                sql: """
                    CREATE TABLE tasks_v3 (
                        id INTEGER PRIMARY KEY,
                        kind TEXT NOT NULL,
                        partition INTEGER NOT NULL REFERENCES partitions(partition),
                        variant TEXT NOT NULL DEFAULT '',
                        state TEXT NOT NULL,
                        current_attempt INTEGER,
                        failures INTEGER NOT NULL DEFAULT 0,
                        UNIQUE (kind, partition, variant)
                    );
                    INSERT INTO tasks_v3 (id, kind, partition, variant, state, current_attempt, failures)
                        SELECT id, kind, partition, '', state, current_attempt, failures FROM tasks;
                    DROP TABLE tasks;
                    ALTER TABLE tasks_v3 RENAME TO tasks;
                    ALTER TABLE events ADD COLUMN variant TEXT;
                    """)
        }
    }

    /// Splits the pending, never attempted whole-partition train task of `partition`
    /// into one task per range of `ranges` (contiguous, covering the partition's
    /// share of trees in order), recorded as a `tasksSplit` event. The whole
    /// task's row becomes the first range (its id is kept). Returns false,
    /// changing nothing, when that task is not pending or has attempts.
    @discardableResult
    public func splitTrainTask(partition: Int, into ranges: [Range<Int>], now: Timestamp) throws -> Bool {
        try write { db in
            let whole = TaskName(.train, partition)
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT * FROM tasks WHERE kind = ? AND partition = ? AND variant = ''",
                    arguments: [TaskKind.train.rawValue, partition])
            else { return false }
            let record = Self.taskRecord(row)
            let attempts = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM attempts WHERE task_id = ?", arguments: [record.id]) ?? 0
            guard record.state == .pending, attempts == 0 else { return false }
            let share = try Int.fetchOne(db, sql: "SELECT trees FROM partitions WHERE partition = ?", arguments: [partition]) ?? 0
            var next = 0
            for r in ranges {
                guard r.lowerBound == next, !r.isEmpty else {
                    throw JobStoreError(.invalidArgument, "\(whole): tree ranges \(ranges) are not contiguous from 0", path: path)
                }
                next = r.upperBound
            }
            guard next == share, ranges.count >= 2 else {
                throw JobStoreError(.invalidArgument, "\(whole): tree ranges \(ranges) do not split its \(share) trees", path: path)
            }
            try db.execute(sql: "UPDATE tasks SET variant = ? WHERE id = ?", arguments: [TaskVariant.trees(ranges[0]).key, record.id])
            for r in ranges.dropFirst() {
                try db.execute(
                    sql: "INSERT INTO tasks (kind, partition, variant, state) VALUES (?, ?, ?, ?)",
                    arguments: [TaskKind.train.rawValue, partition, TaskVariant.trees(r).key, TaskState.pending.rawValue])
            }
            let names = ranges.map { TaskName(.train, partition, .trees($0)).description }.joined(separator: ", ")
            try appendEvent(db, .tasksSplit, task: whole, "\(whole) split in \(ranges.count) tree ranges: \(names)", now: now)
            return true
        }
    }

    /// The tree indices a train task builds: its variant's range, or the partition's whole share.
    func treeRange(_ db: Database, _ name: TaskName) throws -> Range<Int> {
        if let r = name.variant.treeRange { return r }
        let share = try Int.fetchOne(db, sql: "SELECT trees FROM partitions WHERE partition = ?", arguments: [name.partition]) ?? 0
        return 0..<share
    }
}
