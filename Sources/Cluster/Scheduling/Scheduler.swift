/// Decides which task runs next on which worker. Pure: it sees snapshots of
/// the tasks, workers and partition locality and returns decisions; the
/// coordinator applies them to the job store and the sockets.
///
/// Rules:
/// - Stage barriers, as the configuration's `JobPlan` declares them (training:
///   extract → merge statistics → train → merge forests → evaluate → save). A
///   stage's tasks are offered only when every task of the previous stage is
///   done and the merged artifact exists.
/// - Capacity: a worker runs several extract tasks at once (as many as its
///   memory limit allows at `extractTaskBytes` each — one pass over the CSV
///   then feeds all partitions), but one train or evaluate task at a time.
/// - Locality: a train or evaluate task prefers a worker whose spill holds
///   its partition (the extract's, or a copy a worker kept from a streamed
///   cross-validation task); it runs elsewhere (rows streamed again) when no
///   such worker is left, or after waiting `localityWait` seconds while they
///   are busy. A tree-range train task does not wait: its partition was split
///   so that other workers train while the holder does.
/// - A stage's tasks are offered in its step's `TaskOrder` (predict tasks
///   variant-major: by tree slice, then block).
/// - Retries avoid workers where the task already failed while another
///   worker could take it; after `maxAttempts` failures the job fails with
///   `failureMessage`.
/// - A train task starts at the first tree of its range (its variant's, or the
///   partition's whole share) not checkpointed.
public struct Scheduler: Sendable {
    public struct Configuration: Sendable, Hashable {
        public var maxAttempts: Int
        /// Memory one extract task needs (parse buffers, sketches, spill blocks), bytes.
        public var extractTaskBytes: UInt64
        /// Resident memory of an idle worker, bytes.
        public var workerBaselineBytes: UInt64
        public var maxExtractTasksPerWorker: Int
        /// Seconds a train/evaluate task waits for its partition's busy holder.
        public var localityWait: Double
        /// The job's shape: its stages and what runs in each.
        public var plan: JobPlan

        public init(
            maxAttempts: Int = 3, extractTaskBytes: UInt64 = 32 << 20, workerBaselineBytes: UInt64 = 48 << 20,
            maxExtractTasksPerWorker: Int = 64, localityWait: Double = 5, plan: JobPlan = .training
        ) {
            self.maxAttempts = max(1, maxAttempts)
            self.extractTaskBytes = max(1, extractTaskBytes)
            self.workerBaselineBytes = workerBaselineBytes
            self.maxExtractTasksPerWorker = max(1, maxExtractTasksPerWorker)
            self.localityWait = localityWait
            self.plan = plan
        }
    }

    public struct TaskView: Sendable, Hashable {
        public var name: TaskName
        public var state: TaskState
        public var failures: Int
        /// When the task last became schedulable.
        public var readySince: MonotonicSeconds
        /// Workers where earlier attempts failed or were lost.
        public var failedOn: Set<String>
        /// Train tasks: the first tree of `trees` not checkpointed (`trees.upperBound`
        /// when all are), and the partition's share of trees.
        public var firstMissingTree: Int
        public var treesInPartition: Int

        public init(
            name: TaskName, state: TaskState, failures: Int = 0, readySince: MonotonicSeconds = 0,
            failedOn: Set<String> = [], firstMissingTree: Int = 0, treesInPartition: Int = 0
        ) {
            self.name = name
            self.state = state
            self.failures = failures
            self.readySince = readySince
            self.failedOn = failedOn
            self.firstMissingTree = firstMissingTree
            self.treesInPartition = treesInPartition
        }

        /// The trees a train task builds: its variant's range, or the partition's whole share.
        public var trees: Range<Int> { name.variant.treeRange ?? 0..<treesInPartition }
    }

    public struct WorkerView: Sendable, Hashable {
        public var id: String
        public var memoryLimit: UInt64
        /// Tasks with an active attempt on this worker.
        public var running: [TaskName]
        /// False while the worker is draining, suspected or refused recently.
        public var accepting: Bool

        public init(id: String, memoryLimit: UInt64, running: [TaskName] = [], accepting: Bool = true) {
            self.id = id
            self.memoryLimit = memoryLimit
            self.running = running
            self.accepting = accepting
        }
    }

    /// Which worker's spill holds each partition (from its extract attempt), and which other
    /// workers keep a copy of the same rows (a cross-validation fold task streamed to them).
    public struct SpillHolder: Sendable, Hashable {
        public var workerID: String
        public var extractAttemptID: UInt64
        /// Workers other than `workerID` holding a copy of the spill, read as the spill itself.
        public var copies: Set<String>

        public init(workerID: String, extractAttemptID: UInt64, copies: Set<String> = []) {
            self.workerID = workerID
            self.extractAttemptID = extractAttemptID
            self.copies = copies
        }

        /// Whether `worker` holds the spill or a copy of it.
        public func isHeld(by worker: String) -> Bool { worker == workerID || copies.contains(worker) }

        /// Every worker holding the rows.
        public var workers: Set<String> { copies.union([workerID]) }
    }

    /// The merged artifacts the coordinator has produced: a plan's `produce` step is done
    /// when its artifact is here.
    public struct Gates: Sendable, Hashable {
        public private(set) var artifacts: Set<JobArtifact>

        public init(produced: Set<JobArtifact> = []) { artifacts = produced }

        public func has(_ artifact: JobArtifact) -> Bool { artifacts.contains(artifact) }

        public mutating func produce(_ artifact: JobArtifact) { artifacts.insert(artifact) }
    }

    public enum RowSource: Sendable, Hashable {
        case streamed
        case localSpill(extractAttemptID: UInt64)
    }

    public struct Decision: Sendable, Hashable {
        public var task: TaskName
        public var workerID: String
        public var source: RowSource
        /// Train: the first tree to build.
        public var firstTree: Int?
        /// A line for the log, e.g. "train/p1 resumed at tree 7 of 13 on w3".
        public var note: String
    }

    public struct Plan: Sendable, Hashable {
        public var stage: JobStage
        /// The plan's step the job is at (its name is the timing step's).
        public var step: JobPlan.Step
        public var assignments: [Decision]
        /// Train tasks whose trees are all checkpointed: complete them without a worker.
        public var completeFromCheckpoints: [TaskName]
        /// Set when the job has failed: the message to fail it with.
        public var failure: String?
    }

    public var configuration: Configuration

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// The job's stage given its tasks and merged artifacts: `failed` once a task has failed
    /// for good, else the stage of the plan's current step.
    public func stage(tasks: [TaskView], gates: Gates) -> JobStage {
        if tasks.contains(where: { $0.state == .failed }) { return .failed }
        return configuration.plan.currentStep(tasks: tasks, artifacts: gates.artifacts).stage
    }

    /// How many tasks of `kind` a worker with `memoryLimit` runs at once.
    public func capacity(memoryLimit: UInt64, kind: TaskKind) -> Int {
        guard kind == .extract else { return 1 }
        let usable = memoryLimit > configuration.workerBaselineBytes ? memoryLimit - configuration.workerBaselineBytes : 0
        return min(configuration.maxExtractTasksPerWorker, max(1, Int(usable / configuration.extractTaskBytes)))
    }

    /// The next assignments at `now`. `failures` maps a failed task to the
    /// last attempt's failure, for the job's final message.
    public func plan(
        tasks: [TaskView], workers: [WorkerView], holders: [Int: SpillHolder], gates: Gates,
        lastFailures: [TaskName: AttemptFailure] = [:], now: MonotonicSeconds
    ) -> Plan {
        let step = configuration.plan.currentStep(tasks: tasks, artifacts: gates.artifacts)
        if tasks.contains(where: { $0.state == .failed }) {
            let failed = tasks.filter { $0.state == .failed }.sorted { $0.name < $1.name }
            let messages = failed.map { failureMessage(task: $0.name, failures: $0.failures, last: lastFailures[$0.name]) }
            return Plan(
                stage: .failed, step: step, assignments: [], completeFromCheckpoints: [], failure: messages.joined(separator: "; "))
        }
        guard case .run(let kind, let order) = step else {
            return Plan(stage: step.stage, step: step, assignments: [], completeFromCheckpoints: [], failure: nil)
        }

        var pending = tasks.filter { $0.name.kind == kind && $0.state.isSchedulable }
        switch order {
        case .byName: pending.sort { $0.name < $1.name }
        case .variantMajor: pending.sort { ($0.name.variant, $0.name.partition) < ($1.name.variant, $1.name.partition) }
        }
        var complete: [TaskName] = []
        if kind == .train {
            complete = pending.filter { !$0.trees.isEmpty && $0.firstMissingTree >= $0.trees.upperBound }.map(\.name)
            pending.removeAll { complete.contains($0.name) }
        }

        let pool = workers.filter(\.accepting).sorted { $0.id < $1.id }
        let accepting = Set(pool.map(\.id))
        var free = pool.map { capacity(memoryLimit: $0.memoryLimit, kind: kind) - $0.running.count }
        var busy = Set(pool.filter { !$0.running.isEmpty }.map(\.id))
        var decisions: [Decision] = []

        // Rounds over the workers, one task per worker per round, so work spreads evenly.
        var progress = true
        while progress && !pending.isEmpty {
            progress = false
            for w in pool.indices where free[w] > 0 && !pending.isEmpty {
                let worker = pool[w]
                guard
                    let index = pick(
                        for: worker.id, from: pending, holders: holders, accepting: accepting,
                        busy: busy, now: now)
                else { continue }
                let task = pending.remove(at: index)
                decisions.append(decision(task, on: worker.id, holders: holders))
                free[w] -= 1
                busy.insert(worker.id)
                progress = true
            }
        }
        return Plan(stage: step.stage, step: step, assignments: decisions, completeFromCheckpoints: complete, failure: nil)
    }

    /// The job's failure message for a task that used up its attempts.
    public func failureMessage(task: TaskName, failures: Int, last: AttemptFailure?) -> String {
        let times = failures == 1 ? "once" : "\(failures) times"
        guard let last else { return "\(task) failed \(times)" }
        if !last.retryable { return "\(task) failed: \(last)" }
        return "\(task) failed \(times): \(last)"
    }

    private func pick(
        for workerID: String, from pending: [TaskView], holders: [Int: SpillHolder],
        accepting: Set<String>, busy: Set<String>, now: MonotonicSeconds
    ) -> Int? {
        // A task avoids workers where it failed, unless every accepting worker is one of them.
        func allowed(_ t: TaskView) -> Bool {
            !t.failedOn.contains(workerID) || accepting.isSubset(of: t.failedOn)
        }
        guard let kind = pending.first?.name.kind, kind.readsPartitionRows else {
            return pending.firstIndex(where: allowed)
        }
        if let local = pending.firstIndex(where: { holders[$0.name.partition]?.isHeld(by: workerID) == true && allowed($0) }) {
            return local
        }
        // No usable holder: none, gone, or the task already failed there.
        if let orphan = pending.firstIndex(where: { t in
            allowed(t)
                && holders[t.name.partition].map { h in h.workers.allSatisfy { !accepting.contains($0) || t.failedOn.contains($0) } }
                    ?? true
        }) {
            return orphan
        }
        return pending.firstIndex { t in
            guard allowed(t), let holder = holders[t.name.partition] else { return false }
            return holder.workers.allSatisfy { busy.contains($0) || t.failedOn.contains($0) || !accepting.contains($0) }
                && (t.name.variant.spreadsOverWorkers(t.name.kind) || now - t.readySince >= configuration.localityWait)
        }
    }

    private func decision(_ task: TaskView, on workerID: String, holders: [Int: SpillHolder]) -> Decision {
        let name = task.name
        var source = RowSource.streamed
        if name.kind.readsPartitionRows, let holder = holders[name.partition], holder.isHeld(by: workerID) {
            source = .localSpill(extractAttemptID: holder.extractAttemptID)
        }
        let attempt = task.failures > 0 ? " (attempt \(task.failures + 1) of \(configuration.maxAttempts))" : ""
        let rows: String
        switch (name.kind.readsPartitionRows, source) {
        case (false, _): rows = ""
        case (true, .localSpill): rows = ", rows from its spill"
        case (true, .streamed): rows = ", rows streamed again"
        }
        if name.kind == .train {
            let first = max(task.firstMissingTree, task.trees.lowerBound)
            let what: String
            if first <= task.trees.lowerBound {
                what = "\(name) starts"
            } else if name.variant == .whole {
                what = "\(name) resumed at tree \(first) of \(task.treesInPartition)"
            } else {
                what = "\(name) resumed at tree \(first) of \(task.trees.lowerBound)..<\(task.trees.upperBound)"
            }
            return Decision(
                task: name, workerID: workerID, source: source, firstTree: first,
                note: "\(what) on \(workerID)\(attempt)\(rows)")
        }
        return Decision(
            task: name, workerID: workerID, source: source, firstTree: nil,
            note: "\(name) on \(workerID)\(attempt)\(rows)")
    }
}
