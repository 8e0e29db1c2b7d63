import Foundation
import GRDB

extension JobStore {
    /// Creates a prediction job: one partition row per input block (its
    /// record count as `test_rows`, no trees) and a pending `predict/k` task
    /// per block. The block table itself is kept by the caller (artifact).
    public func createPredictionJob(_ spec: JobSpec, blockRows: [Int], now: Timestamp) throws {
        guard !blockRows.isEmpty else { throw JobStoreError(.invalidArgument, "a prediction job needs at least one block", path: path) }
        try write { db in
            if try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM job") ?? 0 > 0 {
                throw JobStoreError(.jobExists, "the job directory already holds a job; use another --job-dir", path: path)
            }
            try db.execute(sql: "INSERT INTO job (id, job_id, spec, stage, created_at) VALUES (1, ?, ?, ?, ?)",
                           arguments: [spec.jobID, try Self.json(spec), JobStage.predict.rawValue, now])
            for (k, rows) in blockRows.enumerated() {
                try db.execute(sql: "INSERT INTO partitions (partition, trees, train_rows, test_rows) VALUES (?, 0, 0, ?)",
                               arguments: [k, rows])
                try db.execute(sql: "INSERT INTO tasks (kind, partition, state) VALUES (?, ?, ?)",
                               arguments: [TaskKind.predict.rawValue, k, TaskState.pending.rawValue])
            }
            try appendEvent(db, .jobCreated, "prediction job \(spec.jobID): \(blockRows.count) blocks, \(blockRows.reduce(0, +)) rows", now: now)
        }
    }
}
