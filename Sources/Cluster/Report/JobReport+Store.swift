import Forest
import Foundation

extension JobReport {
    /// The report of the job in `store`, at `now` (seconds since 1970): works while the
    /// coordinator runs (the page then says "running"), after it finished or died.
    /// Test metrics are the evaluation aggregates merged in partition order (what the
    /// coordinator saves in the model); impurity importances are computed from the
    /// checkpointed trees with the merged forest's weights.
    public static func load(store: JobStore, now: Timestamp, options: Options = Options()) throws -> JobReport {
        guard let spec = try store.jobSpec() else { throw JobStoreError(.noJob, "no job in this store", path: store.path) }
        let stage = try store.stage()
        let jobParameters = try? ForestJobParameters(deserializing: spec.parameters)
        let extractor = try store.artifact("extractor").map { bytes in
            do { return try FeatureExtractor(deserializing: [UInt8](bytes)) } catch {
                throw JobStoreError(.database, "the stored feature extractor cannot be read: \(error)", path: store.path)
            }
        }
        let partitions = try store.partitions()
        let timings = try store.stageTimings()
        let attempts = try store.allAttempts()
        let workers = try store.workers()
        let samples = try store.rssSamples()
        let events = try store.events()
        let created = try store.jobCreatedAt() ?? now
        let origin = ([created] + timings.map(\.startedAt) + attempts.map(\.attempt.startedAt)).min() ?? created
        let state: State = stage == .done ? .done : stage == .failed ? .failed : .running
        let lastTime =
            ([created] + events.map(\.at) + timings.compactMap(\.endedAt) + attempts.compactMap(\.attempt.endedAt)).max() ?? created
        let end = state == .running ? max(now, lastTime) : lastTime

        // Summary.
        let schema = jobParameters?.schema
        let names = schema?.featureNames ?? extractor?.featureNames ?? []
        let columns = names.indices.map { f in
            Column(
                name: names[f], kind: schema?.featureKinds[f].description ?? extractor?.kinds[f].description ?? "?",
                levels: extractor.flatMap { $0.kinds[f] == .categorical ? $0.levels[f].count : nil })
        }
        var parameters = jobParameters.map { parameterList($0.forest, task: $0.schema.task, maxBins: $0.maxBins) } ?? []
        parameters.append(KeyValue(key: "test_fraction", value: spec.dataFiles.count > 1 ? "--test-file" : String(spec.testFraction)))
        parameters.append(KeyValue(key: "max_attempts", value: String(spec.maxAttempts)))
        parameters.sort { $0.key < $1.key }
        let treesDone = try partitions.reduce(0) { $0 + (try store.checkpointedTrees(partition: $1.partition).count) }
        let fingerprint = try store.artifact("fingerprint").map { String(decoding: $0, as: UTF8.self) }
        let wall = (timings.compactMap(\.endedAt).max() ?? end) - (timings.first?.startedAt ?? origin)
        let outcome =
            switch state {
            case .done: "done"
            case .failed: "failed: \(try store.failure() ?? "no reason recorded")"
            case .running: "running (stage \(stage?.rawValue ?? "unknown"))"
            }
        let summary = Summary(
            source: "job store \(store.path.map { ($0 as NSString).deletingLastPathComponent } ?? "(in memory)")",
            jobID: spec.jobID, dataFiles: spec.dataFiles,
            trainRows: partitions.allSatisfy({ $0.trainRows != nil }) ? partitions.reduce(0) { $0 + ($1.trainRows ?? 0) } : nil,
            testRows: partitions.allSatisfy({ $0.testRows != nil }) ? partitions.reduce(0) { $0 + ($1.testRows ?? 0) } : nil,
            label: schema?.targetName ?? "", task: schema?.task.rawValue ?? extractor?.task.kind.rawValue ?? "predict",
            taskDetail: extractor.map { taskDetail($0.task) } ?? "",
            columns: columns, ignoredColumns: schema?.ignoredNames ?? [], parameters: parameters,
            partitions: spec.partitions, trees: spec.trees, treesDone: treesDone, fingerprint: fingerprint,
            wallSeconds: wall, outcome: outcome)

        var report = JobReport(
            title: "SpaceTime job \(spec.jobID)", generatedAt: now, state: state,
            stage: stage?.rawValue ?? "unknown", failure: try store.failure(), summary: summary,
            origin: origin, duration: max(end - origin, 0))
        report.workers = Self.workers(workers, attempts: attempts, exits: options.workerExits)
        report.attempts = try Self.attempts(attempts, events: events, trees: try store.treeAttempts(), origin: origin)
        report.stages = Self.stages(timings, attempts: attempts, workers: workers, samples: samples, origin: origin, now: end)
        let markKinds: [JobEventKind: String] = [.workerLost: "lost", .workerLeft: "left", .resumed: "resumed", .jobFailed: "failed"]
        report.marks =
            timings.map { Mark(at: $0.startedAt - origin, label: $0.step, kind: "stage", worker: nil) }
            + events.compactMap { e in
                markKinds[e.kind].map { Mark(at: e.at - origin, label: e.message, kind: $0, worker: e.workerID) }
            }
        report.memory = workers.map { w in
            MemorySeries(
                worker: w.id, limit: w.memoryLimit,
                samples: (samples[w.id] ?? []).map { MemorySeries.Sample(t: $0.at - origin, rss: $0.rss, peak: $0.peak) })
        }

        // Model quality: the evaluation aggregates merged in partition order.
        if let extractor, let evaluation = try mergedEvaluation(store: store, task: extractor.task) {
            (report.classification, report.regression) = quality(evaluation.metrics, classes: extractor.classes)
            if evaluation.partitions < partitions.count {
                report.notes["quality"] = "partial: \(evaluation.partitions) of \(partitions.count) partitions evaluated so far"
            }
            if let p = evaluation.permutation {
                report.permutation = permutation(
                    p, names: names, computedBy: "computed by the workers holding the test rows, merged in partition order")
            }
        } else {
            report.notes["quality"] = state == .running ? "not evaluated yet (stage \(report.stage))" : "no evaluation in this job"
        }

        // Impurity importances from the checkpointed trees.
        if extractor != nil, treesDone > 0 {
            report.importances = importances(
                try storedTreeImportances(store, partitions: partitions, features: names.count),
                names: names)
            if treesDone < spec.trees { report.notes["importance"] = "from the \(treesDone) of \(spec.trees) trees checkpointed so far" }
        } else {
            report.notes["importance"] = "no trees checkpointed yet"
        }
        if let (p, by) = options.permutation { report.permutation = permutation(p, names: names, computedBy: by) }
        return report
    }

    /// The evaluate tasks' results merged in partition order (what the coordinator saves in
    /// the model), with their permutation importance when the job computed one; nil before any is stored.
    public static func mergedEvaluation(store: JobStore, task: LearningTask) throws
        -> (metrics: EvaluationMetrics, permutation: PermutationImportance?, partitions: Int)?
    {
        let results = try store.evaluationResults().sorted { $0.partition < $1.partition }
        guard !results.isEmpty else { return nil }
        var metrics = EvaluationMetrics(task: task)
        var permutation: PermutationImportance?
        for (p, blob) in results {
            do {
                let part = try EvaluationResult.decode([UInt8](blob))
                try metrics.merge(part.metrics)
                if let share = part.permutation {
                    if permutation == nil { permutation = share } else { try permutation!.merge(share) }
                }
            } catch {
                throw JobStoreError(.database, "the evaluation result of partition \(p) cannot be read: \(error)", path: store.path)
            }
        }
        return (metrics, permutation, results.count)
    }

    /// The merged forest's impurity importances (``RandomForest/featureImportances``) from
    /// the trees in the store, read one at a time: sub-forest p weighs rows_p / Σ rows,
    /// shared by its trees.
    static func storedTreeImportances(_ store: JobStore, partitions: [PartitionRecord], features: Int) throws -> [Double] {
        var counts: [Int: Int] = [:]
        for p in partitions { counts[p.partition] = try store.checkpointedTrees(partition: p.partition).count }
        let rows = Dictionary(uniqueKeysWithValues: partitions.map { ($0.partition, Double(max($0.trainRows ?? 0, 0))) })
        let totalRows = partitions.filter { (counts[$0.partition] ?? 0) > 0 }.reduce(0.0) { $0 + (rows[$1.partition] ?? 0) }
        var total = [Double](repeating: 0, count: features)
        guard totalRows > 0 else { return total }
        try store.forEachTree { p, _, blob in
            let tree: Tree
            do { tree = try Tree(deserializing: [UInt8](blob)) } catch {
                throw JobStoreError(.database, "a stored tree of partition \(p) cannot be read: \(error)", path: store.path)
            }
            let s = tree.importances.reduce(0, +)
            guard s > 0, tree.importances.count == features else { return }
            let w = (rows[p] ?? 0) / totalRows / Double(counts[p] ?? 1)
            for f in 0..<features { total[f] += w * tree.importances[f] / s }
        }
        let s = total.reduce(0, +)
        return s > 0 ? total.map { $0 / s } : total
    }

    static func workers(_ records: [WorkerRecord], attempts: [TimelineAttempt], exits: [String: String]) -> [Worker] {
        var taskPeak: [String: UInt64] = [:]
        for a in attempts { taskPeak[a.attempt.workerID] = max(taskPeak[a.attempt.workerID] ?? 0, a.attempt.peakRSS ?? 0) }
        return records.map { r in
            Worker(
                id: r.id, host: r.host, pid: r.pid, limit: r.memoryLimit, peakRSS: max(r.peakRSS ?? 0, taskPeak[r.id] ?? 0),
                state: r.state.rawValue, exit: exits[r.id])
        }
    }

    static func attempts(
        _ all: [TimelineAttempt], events: [JobEvent], trees: [Int: [Int: UInt64]],
        origin: Timestamp
    ) throws -> [Attempt] {
        var stale: [UInt64: Int] = [:]
        var ticks: [UInt64: [Double]] = [:]
        for e in events {
            guard let id = e.attemptID else { continue }
            if e.kind == .staleDiscarded { stale[id, default: 0] += 1 }
            if e.kind == .checkpoint, ticks[id, default: []].count < Attempt.maxTicks { ticks[id, default: []].append(e.at - origin) }
        }
        var previous: [TaskName: UInt64] = [:]
        return all.map { t in
            let a = t.attempt
            var resumedFrom: UInt64?
            if t.task.kind == .train, let first = a.firstTree, first > (t.task.variant.treeRange?.lowerBound ?? 0) {
                resumedFrom = trees[t.task.partition]?[first - 1]
            }
            defer { previous[t.task] = a.id }
            return Attempt(
                id: a.id, task: t.task.description, kind: t.task.kind.rawValue, partition: t.task.partition,
                worker: a.workerID, start: a.startedAt - origin, end: a.endedAt.map { $0 - origin },
                outcome: a.outcome?.rawValue ?? "running", reason: a.reason, peakRSS: a.peakRSS,
                firstTree: a.firstTree, rerunOf: previous[t.task], resumedFrom: resumedFrom,
                staleMessages: stale[a.id] ?? 0, checkpoints: ticks[a.id] ?? [])
        }
    }

    /// The stage table: wall time as the JSON report computes it, and per worker the highest
    /// RSS its attempts of the stage's task kind reported or its heartbeats sampled during the stage.
    static func stages(
        _ timings: [StageTiming], attempts: [TimelineAttempt], workers: [WorkerRecord],
        samples: [String: [RSSSample]], origin: Timestamp, now: Timestamp
    ) -> [Stage] {
        timings.map { t in
            let until = t.endedAt ?? now
            let kind = TaskKind(rawValue: t.step)
            let peaks = workers.map { w in
                var peak: UInt64? = nil
                for a in attempts where a.attempt.workerID == w.id && a.task.kind == kind {
                    if let p = a.attempt.peakRSS { peak = max(peak ?? 0, p) }
                }
                for s in samples[w.id] ?? [] where s.at >= t.startedAt && s.at <= until { peak = max(peak ?? 0, s.rss) }
                return StagePeak(worker: w.id, peak: peak, limit: w.memoryLimit)
            }
            return Stage(
                name: t.step, start: t.startedAt - origin, seconds: (t.endedAt ?? t.startedAt) - t.startedAt,
                finished: t.endedAt != nil, rows: t.rows, peaks: peaks)
        }
    }
}
