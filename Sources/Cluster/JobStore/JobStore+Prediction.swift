import Foundation
import GRDB

extension JobStore {
    /// Creates a prediction job: one partition row per input block (its
    /// record count as `test_rows`, no trees) and, per block `k`, a pending
    /// `predict` task for each of `variants`: `predict/pK` for whole-model
    /// scoring (`[.whole]`), or `predict/pK.tA-B` for each tree slice `A..<B`
    /// of tree-sharded scoring (contiguous from tree 0). The block table
    /// itself is kept by the caller (artifact).
    public func createPredictionJob(_ spec: JobSpec, blockRows: [Int], variants: [TaskVariant] = [.whole], now: Timestamp) throws {
        guard !blockRows.isEmpty else { throw JobStoreError(.invalidArgument, "a prediction job needs at least one block", path: path) }
        if variants != [.whole] {
            var next = 0
            for v in variants {
                guard let r = v.treeRange, r.lowerBound == next else {
                    throw JobStoreError(
                        .invalidArgument, "predict task variants \(variants) are neither [whole] nor tree slices contiguous from 0",
                        path: path)
                }
                next = r.upperBound
            }
            guard variants.count >= 2 else {
                throw JobStoreError(.invalidArgument, "\(variants.count) tree slice(s) do not shard the model", path: path)
            }
        }
        try write { db in
            if try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM job") ?? 0 > 0 {
                throw JobStoreError(.jobExists, "the job directory already holds a job; use another --job-dir", path: path)
            }
            try db.execute(
                sql: "INSERT INTO job (id, job_id, spec, stage, created_at) VALUES (1, ?, ?, ?, ?)",
                arguments: [spec.jobID, try Self.json(spec), JobStage.predict.rawValue, now])
            for (k, rows) in blockRows.enumerated() {
                try db.execute(
                    sql: "INSERT INTO partitions (partition, trees, train_rows, test_rows) VALUES (?, 0, 0, ?)",
                    arguments: [k, rows])
                for v in variants {
                    try db.execute(
                        sql: "INSERT INTO tasks (kind, partition, variant, state) VALUES (?, ?, ?, ?)",
                        arguments: [TaskKind.predict.rawValue, k, v.key, TaskState.pending.rawValue])
                }
            }
            let slices = variants == [.whole] ? "" : ", \(variants.count) tree slices each"
            try appendEvent(
                db, .jobCreated, "prediction job \(spec.jobID): \(blockRows.count) blocks\(slices), \(blockRows.reduce(0, +)) rows",
                now: now)
        }
    }
}
