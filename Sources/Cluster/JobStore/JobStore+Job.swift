import Foundation
import GRDB
import SpaceTime

extension JobStore {
    /// Creates the job: its spec, partitions with their tree shares, and an
    /// extract, train and evaluate task per partition, all pending. A cross-validation job
    /// (`spec.folds` = K) has, per partition, one extract task and a train and an evaluate
    /// task per (point, fold) block of its ``FoldTreeLayout`` (variant `fold(k, trees:, point:)`):
    /// the partition grows its share of every point's fold forests, in blocks of tree indices.
    public func createJob(_ spec: JobSpec, now: Timestamp) throws {
        guard spec.partitions >= 1 else { throw JobStoreError(.invalidArgument, "a job needs at least one partition", path: path) }
        for trees in spec.pointTrees ?? [spec.trees] where trees < spec.partitions {
            throw JobStoreError(
                .invalidArgument, "\(trees) trees cannot be shared by \(spec.partitions) partitions (need ≥ 1 each)", path: path)
        }
        let shares = PartitionPlanner.treeShares(trees: spec.trees, partitions: spec.partitions)
        try write { db in
            if try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM job") ?? 0 > 0 {
                throw JobStoreError(.jobExists, "the job directory already holds a job; use --resume or another --job-dir", path: path)
            }
            try db.execute(
                sql: "INSERT INTO job (id, job_id, spec, stage, created_at) VALUES (1, ?, ?, ?, ?)",
                arguments: [spec.jobID, try Self.json(spec), JobStage.extract.rawValue, now])
            for p in 0..<spec.partitions {
                let layout = spec.foldLayout(partition: p)
                try db.execute(
                    sql: "INSERT INTO partitions (partition, trees) VALUES (?, ?)", arguments: [p, layout?.partitionTrees ?? shares[p]])
                let variants = layout?.variants ?? [TaskVariant.whole]
                try db.execute(
                    sql: "INSERT INTO tasks (kind, partition, variant, state) VALUES (?, ?, '', ?)",
                    arguments: [TaskKind.extract.rawValue, p, TaskState.pending.rawValue])
                for kind in [TaskKind.train, .evaluate] {
                    for v in variants {
                        try db.execute(
                            sql: "INSERT INTO tasks (kind, partition, variant, state) VALUES (?, ?, ?, ?)",
                            arguments: [kind.rawValue, p, v.key, TaskState.pending.rawValue])
                    }
                }
            }
            try appendEvent(
                db, .jobCreated, "job \(spec.jobID): \(spec.partitions) partitions, \(spec.trees) trees, seed \(spec.seed)", now: now)
        }
    }

    /// The job's spec, or nil if the store holds no job yet.
    public func jobSpec() throws -> JobSpec? {
        try read { db in
            try Self.unjson(JobSpec.self, try String.fetchOne(db, sql: "SELECT spec FROM job"))
        }
    }

    public func stage() throws -> JobStage? {
        try read { db in
            (try String.fetchOne(db, sql: "SELECT stage FROM job")).flatMap(JobStage.init(rawValue:))
        }
    }

    /// The message the job failed with, if it failed.
    public func failure() throws -> String? {
        try read { db in try String.fetchOne(db, sql: "SELECT failure FROM job") }
    }

    public func setStage(_ stage: JobStage, now: Timestamp) throws {
        try write { db in
            let old = try String.fetchOne(db, sql: "SELECT stage FROM job")
            guard let old else { throw JobStoreError(.noJob, "no job in this store", path: path) }
            // A failed job stays failed: a scheduling pass racing with `failJob` must not revive it.
            guard old != stage.rawValue, old != JobStage.failed.rawValue else { return }
            try db.execute(sql: "UPDATE job SET stage = ?", arguments: [stage.rawValue])
            try appendEvent(db, .stageChanged, "stage \(old) → \(stage.rawValue)", now: now)
        }
    }

    /// Marks the job failed with `message` (shown by `spacetime status`).
    public func failJob(_ message: String, now: Timestamp) throws {
        try write { db in
            try db.execute(sql: "UPDATE job SET stage = ?, failure = ?", arguments: [JobStage.failed.rawValue, message])
            try appendEvent(db, .jobFailed, message, now: now)
        }
    }

    /// Replaces the job's spec (a resume that takes a moved data file or a new
    /// `--max-attempts`), recording `note` as a `resumed` event.
    public func updateJobSpec(_ spec: JobSpec, note: String, now: Timestamp) throws {
        try write { db in
            guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM job") ?? 0 > 0 else {
                throw JobStoreError(.noJob, "no job in this store", path: path)
            }
            try db.execute(sql: "UPDATE job SET spec = ?", arguments: [try Self.json(spec)])
            try appendEvent(db, .resumed, note, now: now)
        }
    }

    /// For `--resume`: every unfinished task gets a fresh budget of attempts (its
    /// earlier failures stay in `attempts` but no longer count), and a failed job
    /// is revived: its failed tasks return to `pending`, its failure is cleared
    /// and its stage becomes `stage` (what the scheduler derives from the tasks
    /// and the merged artifacts). Checkpoints, finished tasks and their results
    /// are kept, so nothing done before is redone. Returns the failure message
    /// the job had, if it had failed.
    @discardableResult
    public func resetForResume(stage: (_ tasks: [TaskRecord]) -> JobStage, now: Timestamp) throws -> String? {
        try write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT stage, failure FROM job") else {
                throw JobStoreError(.noJob, "no job in this store", path: path)
            }
            let failed = (row["stage"] as String?) == JobStage.failed.rawValue
            let failure: String? = row["failure"]
            let revived = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM tasks WHERE state = 'failed'") ?? 0
            try db.execute(sql: "UPDATE tasks SET state = 'pending' WHERE state = 'failed'")
            try db.execute(sql: "UPDATE tasks SET failures = 0 WHERE state != 'done'")
            guard failed else { return nil }
            let tasks = try Row.fetchAll(db, sql: "SELECT * FROM tasks ORDER BY id").map(Self.taskRecord)
            let next = stage(tasks)
            try db.execute(sql: "UPDATE job SET stage = ?, failure = NULL", arguments: [next.rawValue])
            try appendEvent(
                db, .resumed,
                "failed job resumed at stage \(next.rawValue): \(revived) failed task(s) pending again; it had failed: \(failure ?? "?")",
                now: now)
            try appendEvent(db, .stageChanged, "stage failed → \(next.rawValue)", now: now)
            return failure ?? "the job failed"
        }
    }

    // MARK: Partitions

    public func partitions() throws -> [PartitionRecord] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM partitions ORDER BY partition").map { row in
                PartitionRecord(
                    partition: row["partition"], trees: row["trees"],
                    trainRows: row["train_rows"], testRows: row["test_rows"])
            }
        }
    }

    // MARK: Workers

    /// Records a worker that said hello (again): connected, with its announced resources.
    public func workerJoined(_ w: WorkerRecord, now: Timestamp) throws {
        try write { db in
            try db.execute(
                sql: """
                    INSERT INTO workers (id, host, pid, cores, memory_limit, state, joined_at, last_heartbeat)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(id) DO UPDATE SET host = excluded.host, pid = excluded.pid, cores = excluded.cores,
                        memory_limit = excluded.memory_limit, state = excluded.state,
                        joined_at = excluded.joined_at, last_heartbeat = excluded.last_heartbeat
                    """,
                arguments: [
                    w.id, w.host, w.pid, w.cores, Int64(clamping: w.memoryLimit),
                    WorkerState.connected.rawValue, now, now
                ])
            try appendEvent(
                db, .workerJoined, workerID: w.id,
                "worker \(w.id) joined from \(w.host) (pid \(w.pid), \(w.cores) cores, limit \(ByteCount(w.memoryLimit)))", now: now)
        }
    }

    public func recordHeartbeat(workerID: String, rss: UInt64, peakRSS: UInt64, now: Timestamp) throws {
        try write { db in
            try db.execute(
                sql: "UPDATE workers SET last_heartbeat = ?, rss = ?, peak_rss = MAX(COALESCE(peak_rss, 0), ?) WHERE id = ?",
                arguments: [now, Int64(clamping: rss), Int64(clamping: peakRSS), workerID])
            try Self.recordRSSSample(db, workerID: workerID, rss: rss, peak: peakRSS, now: now)
        }
    }

    /// A worker went away: `lost` (silent or killed) or `left` (said goodbye).
    public func workerGone(_ workerID: String, state: WorkerState, reason: String, now: Timestamp) throws {
        try write { db in
            try db.execute(sql: "UPDATE workers SET state = ? WHERE id = ?", arguments: [state.rawValue, workerID])
            try appendEvent(
                db, state == .left ? .workerLeft : .workerLost, workerID: workerID,
                "worker \(workerID) \(state == .left ? "left" : "lost"): \(reason)", now: now)
        }
    }

    public func workers() throws -> [WorkerRecord] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM workers ORDER BY id").map { row in
                WorkerRecord(
                    id: row["id"], host: row["host"], pid: row["pid"], cores: row["cores"],
                    memoryLimit: UInt64(row["memory_limit"] as Int64),
                    state: WorkerState(rawValue: row["state"]) ?? .lost,
                    lastHeartbeat: row["last_heartbeat"],
                    rss: (row["rss"] as Int64?).map { UInt64($0) },
                    peakRSS: (row["peak_rss"] as Int64?).map { UInt64($0) })
            }
        }
    }

    // MARK: Artifacts, timings, metrics

    /// Stores a job-level blob such as the merged extractor ("extractor") or the model ("model").
    public func putArtifact(_ name: String, _ data: Data, now: Timestamp) throws {
        try write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO artifacts (name, data, stored_at) VALUES (?, ?, ?)",
                arguments: [name, data, now])
        }
    }

    /// The size of an artifact in bytes, without reading it.
    public func artifactSize(_ name: String) throws -> Int? {
        try read { db in try Int.fetchOne(db, sql: "SELECT length(data) FROM artifacts WHERE name = ?", arguments: [name]) }
    }

    /// Bytes `[offset, offset + length)` of an artifact (fewer at its end), read
    /// without loading the whole blob: how workers' blob fetches are served.
    public func artifactChunk(_ name: String, offset: Int, length: Int) throws -> Data? {
        try read { db in
            try Data.fetchOne(
                db, sql: "SELECT substr(data, ?, ?) FROM artifacts WHERE name = ?",
                arguments: [offset + 1, length, name])
        }
    }

    public func artifact(_ name: String) throws -> Data? {
        try read { db in try Data.fetchOne(db, sql: "SELECT data FROM artifacts WHERE name = ?", arguments: [name]) }
    }

    /// A step started (the first start counts if called again).
    public func stepStarted(_ step: String, now: Timestamp) throws {
        try write { db in
            try db.execute(
                sql: "INSERT OR IGNORE INTO stage_timings (stage, started_at) VALUES (?, ?)",
                arguments: [step, now])
        }
    }

    /// A step ended, having processed `rows` rows (if it reads rows).
    public func stepEnded(_ step: String, rows: Int?, now: Timestamp) throws {
        try write { db in
            try db.execute(
                sql: "UPDATE stage_timings SET ended_at = ?, rows = COALESCE(?, rows) WHERE stage = ?",
                arguments: [now, rows, step])
        }
    }

    /// Step timings in the order the steps started.
    public func stageTimings() throws -> [StageTiming] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM stage_timings ORDER BY started_at, rowid").map { row in
                StageTiming(step: row["stage"], startedAt: row["started_at"], endedAt: row["ended_at"], rows: row["rows"])
            }
        }
    }

    public func setMetric(_ name: String, _ value: Double) throws {
        try write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO metrics (name, value) VALUES (?, ?)", arguments: [name, value])
        }
    }

    public func metrics() throws -> [String: Double] {
        try read { db in
            var out: [String: Double] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT name, value FROM metrics") { out[row["name"]] = row["value"] }
            return out
        }
    }
}
