import Foundation
import Logging
import SpaceTime

// Scheduling: the scheduler's plan applied to the store and sent as assignments.

extension CoordinatorEngine {
    func schedule(at time: EngineTime, into out: inout [CoordinatorOutput]) throws {
        let records = try store.tasks()
        let partitions = try store.partitions()
        var views: [Scheduler.TaskView] = []
        for r in records {
            if r.state.isSchedulable {
                if readySince[r.name] == nil { readySince[r.name] = time.monotonic }
            } else {
                readySince[r.name] = nil
            }
            var view = Scheduler.TaskView(
                name: r.name, state: r.state, failures: r.failures,
                readySince: readySince[r.name] ?? time.monotonic)
            if r.failures > 0 && r.state.isSchedulable {
                view.failedOn = Set(try store.attempts(of: r.name).filter { $0.outcome == .failed || $0.outcome == .lost }.map(\.workerID))
            }
            if r.name.kind == .train && r.state.isSchedulable {
                view.treesInPartition = partitions[r.name.partition].trees
                view.firstMissingTree = try store.firstMissingTree(partition: r.name.partition, in: view.trees)
            }
            views.append(view)
        }
        let workers = peers.values.map {
            Scheduler.WorkerView(id: $0.workerID, memoryLimit: $0.hello.memoryLimitBytes, running: Array($0.running.values))
        }
        var holders: [Int: Scheduler.SpillHolder] = [:]
        for p in partitions.indices {
            guard let holder = try store.spillHolder(partition: p) else { continue }
            let key = HeldKey(partition: p, extractAttemptID: holder.attemptID)
            // The extract's worker, and workers that kept a copy of its rows (`keepsStreamedRowsAsCopy`).
            var holding = Set(peers.values.filter { $0.holds.contains(key) }.map(\.workerID))
            guard !holding.isEmpty else { continue }
            let primary = holding.contains(holder.workerID) ? holder.workerID : holding.min()!
            holding.remove(primary)
            holders[p] = Scheduler.SpillHolder(workerID: primary, extractAttemptID: holder.attemptID, copies: holding)
        }
        if !trainSplitDecided, configuration.treeRangeTasks, scheduler.stage(tasks: views, gates: gates) == .train {
            trainSplitDecided = true
            if try splitTrainTasks(records: records, partitions: partitions, at: time, into: &out) {
                return try schedule(at: time, into: &out)
            }
        }
        let plan = scheduler.plan(
            tasks: views, workers: workers, holders: holders, gates: gates,
            lastFailures: lastFailures, now: time.monotonic)
        if let failure = plan.failure {
            try store.failJob(failure, now: time.wall)
            out.append(.log(.error, "job failed: \(failure)"))
            out.append(.jobFailed(failure))
            out += shutdown(reason: "job failed: \(failure)", at: time)
            return
        }
        if plan.step != currentStep {
            if let currentStep {
                let readInput = currentStep.taskKind?.readsInputFile ?? false
                try store.stepEnded(currentStep.description, rows: readInput ? try rowsExtracted() : nil, now: time.wall)
            }
            try store.stepStarted(plan.step.description, now: time.wall)
            currentStep = plan.step
        }
        if try store.stage() != plan.stage {
            try store.setStage(plan.stage, now: time.wall)
        }
        for name in plan.completeFromCheckpoints {
            let attemptID = try store.beginAttempt(name, workerID: "coordinator", leaseDeadline: time.wall, firstTree: nil, now: time.wall)
            _ = try store.attemptRunning(attemptID, now: time.wall)
            _ = try store.completeAttempt(attemptID, peakRSS: nil, now: time.wall)
            out.append(.log(.info, "\(name) complete from its checkpoints", metadata: .about(task: name)))
        }
        for decision in plan.assignments {
            guard let address = addressOf[decision.workerID] else { continue }
            try assign(decision, to: address, partitions: partitions, records: records, at: time, into: &out)
        }
    }

    func assign(
        _ d: Scheduler.Decision, to address: PeerAddress, partitions: [PartitionRecord],
        records: [TaskRecord], at time: EngineTime, into out: inout [CoordinatorOutput]
    ) throws {
        guard let record = records.first(where: { $0.name == d.task }) else { return }
        var a = WireTaskAssignment()
        a.jobID = spec.jobID
        a.taskID = UInt64(record.id)
        a.kind = d.task.kind.wire
        a.partition = UInt32(d.task.partition)
        a.leaseMs = UInt32(min(configuration.leaseDuration * 1000, Double(configuration.limits.leaseRangeMs.upperBound)))
        a.seed = spec.seed
        a.parameters = spec.parameters
        a.schema = schema
        switch d.source {
        case .streamed:
            a.source = .streamed
            // A fold task is streamed its partition's every row, dealt into folds as the
            // extract did: the worker keeps them as a copy of the extract's spill.
            if d.task.variant.fold != nil, d.task.kind.readsPartitionRows, let holder = try store.spillHolder(partition: d.task.partition) {
                a.spillAttemptID = holder.attemptID
            }
        case .localSpill(let extractAttemptID):
            a.source = .localSpill
            a.spillAttemptID = extractAttemptID
        }
        let p = partitions[d.task.partition]
        if d.task.kind != .extract {
            guard let extractor = extractorForTask?(d.task) ?? extractor else {
                out.append(.log(.error, "cannot assign \(d.task): no merged extractor yet", metadata: .about(task: d.task)))
                return
            }
            a.extractor = extractor
            a.expectedRows = UInt64((p.trainRows ?? 0) + (p.testRows ?? 0))
            a.expectedTrainRows = UInt64(p.trainRows ?? 0)
            // The wire field `classes` carries histogram words per bin (see the .proto).
            a.classes = UInt32(clamping: max(0, histogramWordsPerBin))
        }
        if d.task.kind == .train {
            let share = partitions[d.task.partition].trees
            let trees = d.task.variant.treeRange ?? 0..<share
            var range = WireTreeRange()
            range.first = UInt32(d.firstTree ?? trees.lowerBound)
            range.end = UInt32(trees.upperBound)
            a.trees = range
            a.treesInPartition = UInt32(share)
            a.checkpointEvery = UInt32(max(1, configuration.checkpointEvery))
            a.expectedTreeBytes = try expectedTreeBytes(trainRows: UInt64(max(0, p.trainRows ?? 0)))
        }
        if d.task.kind == .evaluate { a.expectedTestRows = UInt64(max(0, p.testRows ?? 0)) }
        if let variant = d.task.variant.wire { a.variant = variant }
        if d.task.kind.scoresWithModel {
            guard let model = modelForTask?(d.task) ?? model else {
                out.append(.log(.error, "cannot assign \(d.task): no merged model yet", metadata: .about(task: d.task)))
                return
            }
            a.model = model
        }
        // Never send what a worker would reject (e.g. an empty model blob): check before leasing.
        a.attemptID = UInt64.max
        do {
            try MessageValidator(limits: configuration.limits).validate(WireMessage(.assignment(a)), direction: .toWorker)
        } catch {
            out.append(
                .log(.error, "cannot assign \(d.task): the assignment would be invalid: \(error)", metadata: .about(task: d.task)))
            return
        }
        let attemptID = try store.beginAttempt(
            d.task, workerID: d.workerID, leaseDeadline: time.wall + configuration.leaseDuration,
            firstTree: d.firstTree, now: time.wall)
        a.attemptID = attemptID
        peers[address]?.session.lease(attemptID: attemptID, taskID: a.taskID, kind: a.kind)
        peers[address]?.running[attemptID] = d.task
        detector.leased(attemptID: attemptID, to: d.workerID, now: time.monotonic)
        if a.source == .streamed {
            streams[attemptID] = RowStream(attemptID: attemptID, partition: d.task.partition, peer: address)
        }
        if TaskAssignment.keepsStreamedRowsAsCopy(streamed: a.source == .streamed, spillAttemptID: a.spillAttemptID, task: d.task) {
            peers[address]?.copying[attemptID] = HeldKey(partition: d.task.partition, extractAttemptID: a.spillAttemptID)
        }
        readySince[d.task] = nil
        send(.assignment(a), to: address, at: time, into: &out)
        if d.task.kind.streamsPredictions {
            let window = CreditWindow.Receiver(
                windowMessages: configuration.predictionWindowBatches,
                windowBytes: configuration.predictionWindowBytes)
            predictionCredit[attemptID] = window
            sendPredictionCredit(attemptID, window.initialGrant, to: address, at: time, into: &out)
        }
        out.append(
            .log(
                .info, "\(d.note) [attempt \(attemptID)]",
                metadata: .about(task: d.task, attempt: attemptID, worker: d.workerID, peer: address)))
    }

    /// One tree's expected bytes for a train task's admission check: the mean size
    /// of the job's checkpointed trees once there are some, else the planner's
    /// estimate from the partition's training rows.
    func expectedTreeBytes(trainRows: UInt64) throws -> UInt64 {
        let stored = try store.storedTreeStatistics()
        if stored.count > 0 { return stored.bytes / UInt64(stored.count) }
        return PartitionPlanner.treeBytes(rows: trainRows)
    }

    /// At the train stage's start: cuts the partitions' trees in ranges over the
    /// connected workers (`TreeRangeSplit`) when there are fewer partitions than
    /// workers, or, in a cross-validation job, when its fold tasks do not divide evenly
    /// over the workers; logs the decision and records it for `status`. Only a job whose
    /// train tasks are all unsplit and never attempted is split (a resumed job keeps the
    /// tasks it has). Returns true when tasks were split.
    func splitTrainTasks(
        records: [TaskRecord], partitions: [PartitionRecord], at time: EngineTime,
        into out: inout [CoordinatorOutput]
    ) throws -> Bool {
        let train = records.filter { $0.name.kind == .train }
        guard !train.isEmpty, train.allSatisfy({ $0.state == .pending && $0.currentAttempt == nil }) else { return false }
        let byPartition = Dictionary(grouping: train, by: \.name.partition)
        let spec = try store.jobSpec()
        guard
            byPartition.allSatisfy({ p, tasks in
                TaskVariant.areUnsplitTrainTasks(tasks.map(\.name.variant).sorted(), layout: spec?.foldLayout(partition: p))
            })
        else { return false }
        let workers = peers.values.map { TreeRangeSplit.Worker(id: $0.workerID, cores: Int(max(1, $0.hello.cores))) }
        let layouts = partitions.compactMap { spec?.foldLayout(partition: $0.partition) }
        let decision =
            layouts.count == partitions.count && !layouts.isEmpty
            ? TreeRangeSplit.decide(foldLayouts: layouts, workers: workers)
            : TreeRangeSplit.decide(treeShares: partitions.map(\.trees), workers: workers)
        var split = false
        for (p, ranges) in decision.ranges.sorted(by: { $0.key < $1.key }) {
            split = try store.splitTrainTask(partition: p, into: ranges, now: time.wall) || split
        }
        try store.log(.trainPlan, decision.message, now: time.wall)
        out.append(.log(.info, "\(decision.message)"))
        return split
    }

    func rowsExtracted() throws -> Int {
        try store.partitions().reduce(0) { $0 + ($1.trainRows ?? 0) + ($1.testRows ?? 0) }
    }
}
