import Foundation
import GRDB

extension JobStore {
    /// Stores an extract attempt's statistics blob (opaque) and its partition's row counts.
    /// The attempt's worker is remembered as the holder of the partition's spill.
    public func saveExtractCheckpoint(
        _ attemptID: UInt64, stats: Data, counts: PartitionCounts,
        now: Timestamp
    ) throws -> AttemptWriteOutcome {
        try write { db in
            guard var active = try activeMachine(db, attemptID, what: "extract checkpoint", now: now) else {
                return .discarded(reason: "attempt \(attemptID) is not active")
            }
            let name = active.task.record.name
            guard name.kind == .extract else {
                throw JobStoreError(.invalidArgument, "statistics checkpoint from \(name)", path: path)
            }
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO extract_checkpoints (partition, attempt_id, worker_id, stats) VALUES (?, ?, ?, ?)
                    """, arguments: [name.partition, Int64(attemptID), active.workerID, stats])
            try db.execute(
                sql: """
                    UPDATE partitions SET train_rows = ?, test_rows = ? WHERE partition = ?
                    """, arguments: [counts.trainRows, counts.testRows, name.partition])
            try apply(&active.task) { m throws(TaskTransitionError) in try m.checkpoint(attemptID: attemptID) }
            try save(db, active.task)
            try appendEvent(
                db, .checkpoint, task: name, attemptID: attemptID, workerID: active.workerID,
                "\(name) statistics: \(counts.trainRows) train + \(counts.testRows) test rows", now: now)
            return .applied
        }
    }

    /// Stores trees `firstTree ..< firstTree + trees.count` of the attempt's
    /// partition. Trees already stored (a resend, or an earlier attempt) are
    /// kept as they are: trees are deterministic, so they are identical.
    public func saveTrees(_ attemptID: UInt64, firstTree: Int, trees: [Data], now: Timestamp) throws -> AttemptWriteOutcome {
        try write { db in
            guard var active = try activeMachine(db, attemptID, what: "tree checkpoint", now: now) else {
                return .discarded(reason: "attempt \(attemptID) is not active")
            }
            let name = active.task.record.name
            guard name.kind == .train else {
                throw JobStoreError(.invalidArgument, "tree checkpoint from \(name)", path: path)
            }
            let share = try Int.fetchOne(db, sql: "SELECT trees FROM partitions WHERE partition = ?", arguments: [name.partition]) ?? 0
            let range = try treeRange(db, name)
            guard firstTree >= range.lowerBound, !trees.isEmpty, firstTree + trees.count <= range.upperBound else {
                let its = name.variant == .whole ? "its share is \(share)" : "its range is \(range.lowerBound)..<\(range.upperBound)"
                throw JobStoreError(
                    .invalidArgument,
                    "\(name) sent trees \(firstTree)..<\(firstTree + trees.count) but \(its)", path: path)
            }
            var inserted = 0
            for (i, tree) in trees.enumerated() {
                try db.execute(
                    sql: "INSERT OR IGNORE INTO trees (partition, tree_index, attempt_id, tree) VALUES (?, ?, ?, ?)",
                    arguments: [name.partition, firstTree + i, Int64(attemptID), tree])
                inserted += db.changesCount
            }
            if active.task.machine.state != .checkpointed {
                try apply(&active.task) { m throws(TaskTransitionError) in try m.checkpoint(attemptID: attemptID) }
                try save(db, active.task)
            }
            guard inserted > 0 else { return .duplicate }
            let stored = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM trees WHERE partition = ?", arguments: [name.partition]) ?? 0
            try appendEvent(
                db, .checkpoint, task: name, attemptID: attemptID, workerID: active.workerID,
                "\(name) trees \(firstTree)..<\(firstTree + trees.count) stored (\(stored) of \(share))", now: now)
            return .applied
        }
    }

    /// Indices of the trees of `partition` that are checkpointed, ascending.
    public func checkpointedTrees(partition: Int) throws -> [Int] {
        try read { db in
            try Int.fetchAll(db, sql: "SELECT tree_index FROM trees WHERE partition = ? ORDER BY tree_index", arguments: [partition])
        }
    }

    /// The first tree index of `partition` not checkpointed (= its share when all are).
    public func firstMissingTree(partition: Int) throws -> Int {
        let have = try checkpointedTrees(partition: partition)
        for (expected, index) in have.enumerated() where index != expected { return expected }
        return have.count
    }

    /// The first tree index in `range` of `partition` not checkpointed (= `range.upperBound` when all are).
    public func firstMissingTree(partition: Int, in range: Range<Int>) throws -> Int {
        let have = try read { db in
            try Int.fetchAll(
                db, sql: "SELECT tree_index FROM trees WHERE partition = ? AND tree_index >= ? AND tree_index < ? ORDER BY tree_index",
                arguments: [partition, range.lowerBound, range.upperBound])
        }
        for (offset, index) in have.enumerated() where index != range.lowerBound + offset { return range.lowerBound + offset }
        return range.lowerBound + have.count
    }

    /// How many trees in `range` of `partition` are checkpointed.
    public func checkpointedTreeCount(partition: Int, in range: Range<Int>) throws -> Int {
        try read { db in
            try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM trees WHERE partition = ? AND tree_index >= ? AND tree_index < ?",
                arguments: [partition, range.lowerBound, range.upperBound]) ?? 0
        }
    }

    public func tree(partition: Int, index: Int) throws -> Data? {
        try read { db in
            try Data.fetchOne(db, sql: "SELECT tree FROM trees WHERE partition = ? AND tree_index = ?", arguments: [partition, index])
        }
    }

    /// Calls `body` with each tree of the job in (partition, index) order,
    /// one at a time, so the forest never has to be in memory at once.
    public func forEachTree(_ body: (_ partition: Int, _ index: Int, _ tree: Data) throws -> Void) throws {
        try read { db in
            let cursor = try Row.fetchCursor(db, sql: "SELECT partition, tree_index, tree FROM trees ORDER BY partition, tree_index")
            while let row = try cursor.next() {
                try body(row["partition"], row["tree_index"], row["tree"])
            }
        }
    }

    /// How many trees are checkpointed and their serialized bytes.
    public func storedTreeStatistics() throws -> (count: Int, bytes: UInt64) {
        try read { db in
            let row = try Row.fetchOne(db, sql: "SELECT COUNT(*) AS n, COALESCE(SUM(LENGTH(tree)), 0) AS bytes FROM trees")
            return (row?["n"] ?? 0, UInt64(max(0, row?["bytes"] as Int64? ?? 0)))
        }
    }

    /// Bytes of all checkpointed trees (their serialized blobs).
    public func storedTreeBytes() throws -> UInt64 {
        try read { db in UInt64(try Int64.fetchOne(db, sql: "SELECT COALESCE(SUM(LENGTH(tree)), 0) FROM trees") ?? 0) }
    }

    /// The statistics blob of `partition`'s extraction, if checkpointed.
    public func extractStats(partition: Int) throws -> Data? {
        try read { db in
            try Data.fetchOne(db, sql: "SELECT stats FROM extract_checkpoints WHERE partition = ?", arguments: [partition])
        }
    }

    /// The worker whose spill directory holds `partition` (from its extraction).
    public func spillHolder(partition: Int) throws -> (workerID: String, attemptID: UInt64)? {
        try read { db in
            try Row.fetchOne(
                db, sql: "SELECT worker_id, attempt_id FROM extract_checkpoints WHERE partition = ?",
                arguments: [partition]
            ).map { (workerID: $0["worker_id"], attemptID: UInt64($0["attempt_id"] as Int64)) }
        }
    }

    /// Calls `body` with each partition's statistics in partition order (the merge order).
    public func forEachExtractStats(_ body: (_ partition: Int, _ stats: Data) throws -> Void) throws {
        try read { db in
            let cursor = try Row.fetchCursor(db, sql: "SELECT partition, stats FROM extract_checkpoints ORDER BY partition")
            while let row = try cursor.next() { try body(row["partition"], row["stats"]) }
        }
    }

    /// Evaluation aggregates per partition, in partition order.
    public func evaluationResults() throws -> [(partition: Int, result: Data)] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT partition, result FROM evaluations ORDER BY partition")
                .map { (partition: $0["partition"], result: $0["result"]) }
        }
    }
}
