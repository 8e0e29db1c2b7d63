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

    /// Splits the pending, never attempted, unsplit train tasks of `partition` by `ranges`
    /// (contiguous, covering the partition's trees in order, with a boundary at each
    /// task's range ends): each task becomes one task per range inside its own range —
    /// `trees(r)` for the whole-partition task, `fold(k, trees: r, point: g)` for the (point, fold) task of a
    /// cross-validation job. A task's row becomes its first range (its id is kept). The
    /// split is recorded as a `tasksSplit` event. Returns false, changing nothing, when a
    /// train task of the partition is not pending, has attempts or was split before.
    @discardableResult
    public func splitTrainTask(partition: Int, into ranges: [Range<Int>], now: Timestamp) throws -> Bool {
        try write { db in
            let rows = try Row.fetchAll(
                db, sql: "SELECT * FROM tasks WHERE kind = ? AND partition = ? ORDER BY id",
                arguments: [TaskKind.train.rawValue, partition])
            let records = rows.map(Self.taskRecord).sorted { $0.name < $1.name }
            guard !records.isEmpty else { return false }
            for record in records {
                let attempts = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM attempts WHERE task_id = ?", arguments: [record.id]) ?? 0
                guard record.state == .pending, attempts == 0 else { return false }
            }
            let share = try Int.fetchOne(db, sql: "SELECT trees FROM partitions WHERE partition = ?", arguments: [partition]) ?? 0
            let spec = try Self.unjson(JobSpec.self, try String.fetchOne(db, sql: "SELECT spec FROM job"))
            guard TaskVariant.areUnsplitTrainTasks(records.map(\.name.variant), layout: spec?.foldLayout(partition: partition))
            else { return false }
            let label = records.count == 1 ? records[0].name.description : "train/p\(partition)"
            var next = 0
            for r in ranges {
                guard r.lowerBound == next, !r.isEmpty else {
                    throw JobStoreError(.invalidArgument, "\(label): tree ranges \(ranges) are not contiguous from 0", path: path)
                }
                next = r.upperBound
            }
            guard next == share, ranges.count > records.count else {
                throw JobStoreError(.invalidArgument, "\(label): tree ranges \(ranges) do not split its \(share) trees", path: path)
            }
            var names: [String] = []
            for record in records {
                let own = record.name.variant.treeRange ?? 0..<share
                let inside = ranges.filter { own.contains($0.lowerBound) }
                guard inside.first?.lowerBound == own.lowerBound, inside.last?.upperBound == own.upperBound else {
                    throw JobStoreError(
                        .invalidArgument, "\(record.name): tree ranges \(ranges) do not split its trees \(own)", path: path)
                }
                guard inside.count >= 2 else { continue }
                let variants = inside.map { r in
                    record.name.variant.fold.map { TaskVariant.fold($0, trees: r, point: record.name.variant.point ?? 0) } ?? .trees(r)
                }
                try db.execute(sql: "UPDATE tasks SET variant = ? WHERE id = ?", arguments: [variants[0].key, record.id])
                for v in variants.dropFirst() {
                    try db.execute(
                        sql: "INSERT INTO tasks (kind, partition, variant, state) VALUES (?, ?, ?, ?)",
                        arguments: [TaskKind.train.rawValue, partition, v.key, TaskState.pending.rawValue])
                }
                names += variants.map { TaskName(.train, partition, $0).description }
            }
            let whole = TaskName(.train, partition)
            let what = records.count == 1 ? "\(records[0].name)" : "\(records.count) train tasks of p\(partition)"
            try appendEvent(
                db, .tasksSplit, task: records.count == 1 ? records[0].name : whole,
                "\(what) split in \(names.count) tree ranges: \(names.joined(separator: ", "))", now: now)
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
