import Forest
import Foundation
import SpaceTime

/// A snapshot of a job for `spacetime status JOBDIR [--json]`: stage, tasks
/// with their attempts, workers with last heartbeat and RSS, checkpoints,
/// stage timings and metrics. Read from the job store only (works while the
/// coordinator runs, after it finished, or after it died).
public struct JobStatus: Sendable, Hashable, Codable {
    public struct Task: Sendable, Hashable, Codable {
        public var name: String
        public var state: String
        public var attempts: Int
        public var failures: Int
        /// The worker of the current (or last) attempt.
        public var worker: String?
        /// Train tasks: trees checkpointed of the task's trees (its tree range, or the partition's share).
        public var treesCheckpointed: Int?
        public var trees: Int?
        /// The last failure or loss reason.
        public var lastReason: String?
    }

    public struct Worker: Sendable, Hashable, Codable {
        public var id: String
        public var host: String
        public var pid: Int
        public var state: String
        public var memoryLimit: UInt64
        public var rss: UInt64?
        public var peakRSS: UInt64?
        public var lastHeartbeat: Timestamp?
    }

    public struct Timing: Sendable, Hashable, Codable {
        public var stage: String
        public var seconds: Double?
        public var rows: Int?
    }

    /// One fold of a cross-validation job (of one grid point, with `cv --grid`): its tasks
    /// and trees, and its metrics once every evaluate task of the fold is done.
    public struct Fold: Sendable, Hashable, Codable {
        /// 1-based, as `cv` numbers folds.
        public var fold: Int
        /// The grid point, 1-based, and its parameters (e.g. "min-samples-leaf=5"); nil without a grid.
        public var point: Int?
        public var pointLabel: String?
        public var trainTasks: Int
        public var trainTasksDone: Int
        /// The fold forest's trees over all partitions, and how many are checkpointed.
        public var trees: Int
        public var treesCheckpointed: Int
        public var evaluateTasks: Int
        public var evaluateTasksDone: Int
        /// accuracy, auc and log_loss, or r2, rmse and mae, over the fold's rows.
        public var metrics: [String: Double]?
    }

    public var jobID: String
    public var stage: String
    public var failure: String?
    public var partitions: Int
    /// The job's trees: the forest's, or in a cross-validation job all folds' forests'.
    public var trees: Int
    public var tasks: [Task]
    public var workers: [Worker]
    public var partitionsWithStatistics: Int
    public var treesCheckpointed: Int
    public var timings: [Timing]
    public var metrics: [String: Double]
    /// How the train stage's tasks were cut over the workers, once decided
    /// (e.g. "train: 1 partition for 2 workers (…): 2 train tasks over tree ranges …").
    public var trainPlan: String?
    /// Whole-model or tree-sharded scoring of the evaluate (or predict) tasks, and why.
    public var scoringPlan: String?
    /// A cross-validation job's folds, in order (point-major with a grid); nil for other jobs.
    public var folds: [Fold]?

    public static func load(from store: JobStore) throws -> JobStatus {
        guard let spec = try store.jobSpec() else { throw JobStoreError(.noJob, "no job in this store", path: store.path) }
        let partitions = try store.partitions()
        var tasks: [Task] = []
        var treesTotal = 0
        var withStats = 0
        for p in partitions {
            let count = try store.checkpointedTrees(partition: p.partition).count
            treesTotal += count
            if try store.extractStats(partition: p.partition) != nil { withStats += 1 }
        }
        for record in try store.tasks().sorted(by: { $0.name < $1.name }) {
            let attempts = try store.attempts(of: record.name)
            var task = Task(
                name: record.name.description, state: record.state.rawValue, attempts: attempts.count,
                failures: record.failures, worker: attempts.last?.workerID,
                lastReason: attempts.last(where: { $0.outcome == .failed || $0.outcome == .lost })?.reason)
            if record.name.kind == .train {
                let range = record.name.variant.treeRange ?? 0..<partitions[record.name.partition].trees
                task.trees = range.count
                task.treesCheckpointed = try store.checkpointedTreeCount(partition: record.name.partition, in: range)
            }
            tasks.append(task)
        }
        let folds = try spec.folds.map { K in try Self.folds(K, spec: spec, store: store) }
        let workers = try store.workers().map {
            Worker(
                id: $0.id, host: $0.host, pid: $0.pid, state: $0.state.rawValue, memoryLimit: $0.memoryLimit,
                rss: $0.rss, peakRSS: $0.peakRSS, lastHeartbeat: $0.lastHeartbeat)
        }
        let timings = try store.stageTimings().map { t in
            Timing(stage: t.step, seconds: t.endedAt.map { $0 - t.startedAt }, rows: t.rows)
        }
        return JobStatus(
            jobID: spec.jobID, stage: try store.stage()?.rawValue ?? "unknown", failure: try store.failure(),
            partitions: spec.partitions, trees: (spec.pointTrees ?? [spec.trees]).reduce(0, +) * (spec.folds ?? 1), tasks: tasks,
            workers: workers,
            partitionsWithStatistics: withStats, treesCheckpointed: treesTotal, timings: timings,
            metrics: try store.metrics(), trainPlan: try store.events(kind: .trainPlan).last?.message,
            scoringPlan: try store.events(kind: .scoringPlan).last?.message, folds: folds)
    }

    private static func folds(_ K: Int, spec: JobSpec, store: JobStore) throws -> [Fold] {
        let records = try store.tasks()
        let labels = spec.pointTrees == nil ? [""] : try ForestJobParameters(deserializing: spec.parameters).pointLabels()
        let blocks = labels.indices.flatMap { g in (0..<K).map { (g, $0) } }
        return try blocks.map { g, k in
            let train = records.filter { $0.name.kind == .train && $0.name.variant.fold == k && $0.name.variant.point == g }
            let evaluate = records.filter { $0.name.kind == .evaluate && $0.name.variant.fold == k && $0.name.variant.point == g }
            var trees = 0
            var checkpointed = 0
            for t in train {
                guard let range = t.name.variant.treeRange else { continue }
                trees += range.count
                checkpointed += try store.checkpointedTreeCount(partition: t.name.partition, in: range)
            }
            var fold = Fold(
                fold: k + 1, point: labels.count > 1 ? g + 1 : nil, pointLabel: labels.count > 1 ? labels[g] : nil, trainTasks: train.count,
                trainTasksDone: train.filter { $0.state == .done }.count, trees: trees,
                treesCheckpointed: checkpointed, evaluateTasks: evaluate.count,
                evaluateTasksDone: evaluate.filter { $0.state == .done }.count)
            if !evaluate.isEmpty, fold.evaluateTasksDone == evaluate.count,
                let metrics = try CrossValidationJobResult.foldMetrics(store: store, evaluations: evaluate, fold: k, point: g)
            {
                fold.metrics = Dictionary(uniqueKeysWithValues: CrossValidationResult.reported(metrics).map { ($0.name, $0.value) })
            }
            return fold
        }
    }

    /// Pretty-printed JSON with sorted keys (stable for scripts and diffs).
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// Human-readable report; `now` (seconds since 1970) ages the heartbeats.
    public func render(now: Timestamp) -> String {
        var lines: [String] = []
        lines.append("job \(jobID): \(stage)" + (failure.map { " — \($0)" } ?? ""))
        if tasks.first?.name.hasPrefix("predict/") == true {
            // A block is done when its task is, or (tree-sharded: predict/pK.tA-B) all its slices' tasks are.
            let byBlock = Dictionary(grouping: tasks) { String($0.name.prefix { $0 != "." }) }
            var line = "blocks: \(partitions), done \(byBlock.values.filter { $0.allSatisfy { $0.state == "done" } }.count)"
            if byBlock.count < tasks.count {
                line += "; tasks: \(tasks.count) (a task per block and tree slice), done \(tasks.filter { $0.state == "done" }.count)"
            }
            lines.append(line)
        } else {
            lines.append(
                "partitions: \(partitions), statistics for \(partitionsWithStatistics); trees: \(treesCheckpointed) of \(trees) checkpointed"
                    + (folds.map { f in
                        let points = Set(f.compactMap(\.point)).count
                        return points > 1
                            ? " (\(points) grid points × \(f.count / points) folds)" : " (\(f.count) folds × \(trees / max(1, f.count)))"
                    } ?? ""))
        }
        if let folds {
            lines.append("")
            lines.append("folds:")
            for f in folds {
                if let g = f.point, f.fold == 1 { lines.append("  point \(g) [\(f.pointLabel ?? "")]:") }
                var line =
                    (f.point == nil ? "  " : "    ")
                    + "fold \(f.fold): train \(f.trainTasksDone)/\(f.trainTasks) tasks, trees \(f.treesCheckpointed)/\(f.trees)"
                line += "; evaluate \(f.evaluateTasksDone)/\(f.evaluateTasks) tasks"
                if let m = f.metrics {
                    let names = ["accuracy", "auc", "log_loss", "r2", "rmse", "mae"].filter { m[$0] != nil }
                    line += "; " + names.map { "\($0) \(String(format: "%.4f", m[$0]!))" }.joined(separator: ", ")
                }
                lines.append(line)
            }
            lines.append("")
        }
        if let trainPlan { lines.append(trainPlan) }
        if let scoringPlan { lines.append(scoringPlan) }
        lines.append("")
        lines.append("tasks:")
        for t in tasks {
            var line =
                "  \(t.name.padding(toLength: max(14, tasks.map(\.name.count).max() ?? 0), withPad: " ", startingAt: 0)) \(t.state.padding(toLength: 12, withPad: " ", startingAt: 0))"
            line += " attempts \(t.attempts)"
            if let w = t.worker { line += ", on \(w)" }
            if let c = t.treesCheckpointed, let n = t.trees { line += ", trees \(c)/\(n)" }
            if let r = t.lastReason { line += " (last failure: \(r))" }
            lines.append(line)
        }
        lines.append("")
        lines.append("workers:")
        if workers.isEmpty { lines.append("  (none)") }
        for w in workers {
            var line = "  \(w.id) \(w.host) pid \(w.pid) \(w.state)"
            if let rss = w.rss {
                line += ", RSS \(ByteCount(rss)) of \(ByteCount(w.memoryLimit))"
            } else {
                line += ", limit \(ByteCount(w.memoryLimit))"
            }
            if let peak = w.peakRSS { line += ", peak \(ByteCount(peak))" }
            if let hb = w.lastHeartbeat { line += ", last heartbeat \(String(format: "%.1f", max(0, now - hb))) s ago" }
            lines.append(line)
        }
        if !timings.isEmpty {
            lines.append("")
            lines.append("stages:")
            for t in timings {
                var line = "  \(t.stage.padding(toLength: 17, withPad: " ", startingAt: 0)) "
                line += t.seconds.map { String(format: "%.2f s", $0) } ?? "running"
                if let rows = t.rows, let s = t.seconds, s > 0 { line += String(format: ", %d rows, %.0f rows/s", rows, Double(rows) / s) }
                lines.append(line)
            }
        }
        if !metrics.isEmpty {
            lines.append("")
            lines.append("metrics:")
            for (name, value) in metrics.sorted(by: { $0.key < $1.key }) { lines.append("  \(name): \(value)") }
        }
        return lines.joined(separator: "\n")
    }
}
