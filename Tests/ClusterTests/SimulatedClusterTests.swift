import Forest
import Foundation
import Testing

@testable import Cluster

private struct SimRows: RecordSource {
    var records: [SourceRecord]
    var index = 0
    mutating func next() throws -> SourceRecord? {
        defer { index += 1 }
        return index < records.count ? records[index] : nil
    }
}

/// A coordinator engine and worker engines wired together in memory, with a
/// fake task executor and a simulated clock: the whole protocol runs end to
/// end (handshake, credit-gated rows, checkpoints, merges, evaluation) with
/// no sockets, and a worker can be cut off at a chosen point.
private final class SimulatedCluster {
    struct Row {
        var line: UInt64
        var partition: Int
        var test: Bool
        var record: String
    }

    final class FakeWorker {
        let engine: WorkerEngine
        let address: PeerAddress
        var alive = true
        var inbox: [[Data]] = []
        var tasks: [UInt64: (assignment: TaskAssignment, rows: Int, train: Int, nextTree: Int, ended: Bool)] = [:]
        var reconnectAt: Double?

        init(_ id: String, address: UInt8, pid: UInt32, memory: UInt64 = 512 << 20) {
            engine = WorkerEngine(identity: .init(workerID: id, host: "host-\(id)", pid: pid, cores: 2, memoryLimit: memory))
            self.address = PeerAddress([address])
        }
    }

    let store: JobStore
    var coordinator: CoordinatorEngine
    var workers: [FakeWorker] = []
    var toCoordinator: [(PeerAddress, [Data])] = []
    var rows: [Row]
    var pass: RowPass?
    var passes = 0
    var now = 0.0
    var logs: [String] = []
    var failure: String?

    /// A cross-validation job's fold count (rows dealt to folds round-robin), or nil.
    let folds: Int?

    init(
        partitions: Int, trees: Int, rows count: Int, store: JobStore? = nil, schema: WireCsvSchema = WireSamples.schema(),
        folds: Int? = nil
    ) throws {
        self.store = try store ?? JobStore()
        self.folds = folds
        var spec = JobSpec(
            jobID: "sim", dataFiles: ["sim.csv"], parameters: Data([1]), seed: 7, partitions: partitions,
            testFraction: 0.2, trees: trees, maxAttempts: 3)
        spec.folds = folds
        try self.store.createJob(spec, now: 0)
        var config = CoordinatorEngine.Configuration()
        config.leaseDuration = 20
        config.scheduler.plan = folds == nil ? .training : .crossValidation
        var session: UInt64 = 1000
        coordinator = try CoordinatorEngine(
            store: self.store, schema: schema, configuration: config,
            makeSessionID: {
                session += 1
                return session
            })
        rows = (0..<count).map { i in
            Row(line: UInt64(i + 2), partition: i % partitions, test: i % 5 == 0, record: "\(i),\(i * 2),\(i % 2 == 0 ? "a" : "b")")
        }
    }

    /// Kills the coordinator (all its in-memory state) and starts a new one
    /// on the same store, as `--resume` does.
    func restartCoordinator() throws {
        toCoordinator.removeAll()
        pass = nil
        _ = try store.abandonActiveAttempts(reason: "coordinator restarted", now: 1_800_000_000 + now)
        var config = CoordinatorEngine.Configuration()
        config.leaseDuration = 20
        var session: UInt64 = 5000
        coordinator = try CoordinatorEngine(
            store: store, schema: WireSamples.schema(), configuration: config,
            makeSessionID: {
                session += 1
                return session
            })
        if try store.partitions().allSatisfy({ $0.trainRows != nil }) && store.stage() != .extract {
            coordinator.extractor = {
                var b = WireBlob()
                b.inline = Data("extractor (from the store)".utf8)
                return b
            }()
            coordinator.gates.produce(.extractor)
        }
    }

    func add(_ id: String, address: UInt8, pid: UInt32, memory: UInt64 = 512 << 20) {
        let w = FakeWorker(id, address: address, pid: pid, memory: memory)
        workers.append(w)
        handle(w, w.engine.connected(at: now))
    }

    private func handle(_ w: FakeWorker, _ outputs: [WorkerOutput]) {
        for o in outputs {
            switch o {
            case .send(let m):
                if w.alive, let f = try? m.encodeFrames() { toCoordinator.append((w.address, f)) }
            case .run(let a):
                w.tasks[a.attemptID] = (a, 0, 0, a.trees.lowerBound, a.source != .streamed)
            case .rows(let b, let payload):
                w.tasks[b.attemptID]?.rows += b.recordLengths.count
                let tests = (0..<b.recordLengths.count).filter { b.testMask[$0 / 8] & (1 << UInt8($0 % 8)) != 0 }.count
                w.tasks[b.attemptID]?.train += b.recordLengths.count - tests
                handle(w, w.engine.consumedRows(attemptID: b.attemptID, bytes: payload.count, at: now))
            case .rowsEnd(let e):
                w.tasks[e.attemptID]?.ended = true
            case .cancel(let id, _):
                w.tasks[id] = nil
            case .reconnect(let after):
                w.reconnectAt = now + after
            case .log(_, let s, _):
                logs.append("\(w.engine.identity.workerID): \(s)")
            case .blobChunk, .exit:
                break
            }
        }
    }

    /// One step of the fake executor: each task makes a little progress.
    private func work(_ w: FakeWorker) {
        for id in w.tasks.keys.sorted() {
            guard let t = w.tasks[id], t.ended else { continue }
            let a = t.assignment
            switch a.kind {
            case .extract:
                var s = WireCheckpoint.ExtractStats()
                s.rows = UInt64(t.rows)
                s.trainRows = UInt64(t.train)
                s.testRows = UInt64(t.rows - t.train)
                // The class fields are optional and ignored by the coordinator: odd partitions leave them out.
                if a.partition % 2 == 0 {
                    s.classLabels = ["all"]
                    s.trainClassCounts = [s.trainRows]
                    s.testClassCounts = [s.testRows]
                }
                handle(w, w.engine.checkpointStats(attemptID: id, stats: s, blob: Data("stats \(a.partition) \(t.rows)".utf8), at: now))
                handle(w, w.engine.done(attemptID: id, rows: UInt64(t.rows), peakRSS: 10 << 20, result: nil, elapsed: 0.1, at: now))
                w.tasks[id] = nil
            case .train:
                if t.nextTree < a.trees.upperBound {
                    handle(
                        w,
                        w.engine.checkpointTrees(
                            attemptID: id, firstTree: t.nextTree,
                            trees: [Data("tree \(a.partition).\(t.nextTree) seed \(a.seed)".utf8)], at: now))
                    w.tasks[id]?.nextTree += 1
                } else {
                    handle(w, w.engine.done(attemptID: id, rows: 0, peakRSS: 20 << 20, result: nil, elapsed: 0.1, at: now))
                    w.tasks[id] = nil
                }
            case .evaluate:
                // A fold's metrics are merged by the coordinator (and `status`): an empty aggregate.
                let result =
                    a.variant.fold != nil
                    ? Data(EvaluationResult.encode(.classification(MetricsAggregate(classCount: 2)), permutation: nil))
                    : Data("eval \(a.partition)".utf8)
                handle(w, w.engine.done(attemptID: id, rows: 0, peakRSS: 20 << 20, result: result, elapsed: 0.1, at: now))
                w.tasks[id] = nil
            default:
                break
            }
        }
    }

    /// The coordinator shell's part: stream rows under credit, merge when a stage needs it.
    private func coordinatorShell(_ time: EngineTime) throws {
        // One pass over all rows feeds every open stream; streams opened later get the next pass.
        if pass == nil || pass?.isFinished == true, !coordinator.rowStreams.isEmpty {
            let folds = self.folds
            let source = SimRows(
                records: rows.map { row in
                    SourceRecord(
                        line: row.line, partition: row.partition, isTest: folds == nil && row.test, bytes: Data(row.record.utf8),
                        fold: folds.map { UInt8(Int(row.line) % $0) })
                })
            pass = RowPass(source: source, sink: coordinator, limits: .init(batchRows: 4, batchBytes: 1 << 20))
            passes += 1
        }
        if let pass { route(try pass.pump(into: coordinator, at: time)) }
        let stage = try store.stage()
        let (extractor, model): (JobArtifact, JobArtifact) = folds == nil ? (.extractor, .model) : (.foldExtractors, .foldModels)
        if stage == .merge && !coordinator.gates.has(extractor) {
            var stats = Data()
            try store.forEachExtractStats { _, blob in stats.append(blob) }
            coordinator.extractor = {
                var b = WireBlob()
                b.inline = Data("extractor of \(stats.count) bytes".utf8)
                return b
            }()
            coordinator.gates.produce(extractor)
        } else if stage == .merge && !coordinator.gates.has(model),
            try store.tasks().allSatisfy({ $0.name.kind != .train || $0.state == .done })
        {
            var forest = Data()
            try store.forEachTree { _, _, tree in forest.append(tree) }
            coordinator.model = coordinator.addBlob(forest, digest: Data(repeating: 3, count: 32))
            coordinator.gates.produce(model)
        }
    }

    private func route(_ outputs: [CoordinatorOutput]) {
        for o in outputs {
            switch o {
            case .send(let address, let m):
                guard let w = workers.first(where: { $0.address == address }), w.alive, let f = try? m.encodeFrames() else { continue }
                w.inbox.append(f)
            case .log(_, let s, _):
                logs.append("coordinator: \(s)")
            case .jobFailed(let m):
                failure = m
            }
        }
    }

    /// Advances the simulation by `dt` seconds.
    func step(_ dt: Double = 0.1) throws {
        now += dt
        let time = EngineTime(monotonic: now, wall: 1_800_000_000 + now)
        while !toCoordinator.isEmpty {
            let (address, frames) = toCoordinator.removeFirst()
            route(try coordinator.receive(from: address, frames: frames, at: time))
        }
        route(try coordinator.tick(at: time))
        try coordinatorShell(time)
        for w in workers where w.alive {
            if let at = w.reconnectAt, now >= at {
                w.reconnectAt = nil
                handle(w, w.engine.connected(at: now))
            }
            let inbox = w.inbox
            w.inbox = []
            for f in inbox { handle(w, w.engine.receive(frames: f, at: now)) }
            work(w)
            handle(w, w.engine.tick(at: now))
        }
    }

    func run(until condition: () throws -> Bool, limit: Double = 300) throws {
        while try !condition() && now < limit { try step() }
    }
}

@Suite struct SimulatedClusterTests {
    /// The driver, not the cluster layer, knows the task's histogram cell: a count per
    /// class, or two words for regression (the objectives' `cellWords`).
    @Test func driverSizesHistogramsFromTheFittedTask() {
        #expect(ForestCoordinatorDriver.histogramWordsPerBin(.classification(classes: ["a", "b", "c"], counts: [1, 2, 3])) == 3)
        #expect(ForestCoordinatorDriver.histogramWordsPerBin(.classification(classes: ["x", "y"], counts: [1, 1])) == 2)
        #expect(ForestCoordinatorDriver.histogramWordsPerBin(.regression(FeatureStatistics())) == 2)
    }

    @Test func jobCompletesEndToEnd() throws {
        let sim = try SimulatedCluster(partitions: 3, trees: 7, rows: 200)
        sim.add("w1", address: 1, pid: 101)
        sim.add("w2", address: 2, pid: 102)
        try sim.run { try sim.store.stage() == .save || sim.failure != nil }
        #expect(sim.failure == nil)
        #expect(try sim.store.stage() == .save)
        let parts = try sim.store.partitions()
        #expect(parts.map { ($0.trainRows ?? 0) + ($0.testRows ?? 0) }.reduce(0, +) == 200, "every row reached one partition")
        #expect(parts.map { $0.testRows ?? 0 }.reduce(0, +) == 40)
        #expect(try (0..<3).map { try sim.store.checkpointedTrees(partition: $0).count } == [3, 2, 2])
        #expect(try sim.store.evaluationResults().count == 3)
        #expect(try sim.store.events(kind: .staleDiscarded).isEmpty)
        #expect(try sim.store.tasks().allSatisfy { $0.state == .done && $0.failures == 0 })
        #expect(sim.now < 30, "finished in \(sim.now) simulated seconds")
        #expect(sim.passes == 1, "the input was read once")
        let steps = try sim.store.stageTimings()
        #expect(steps.map(\.step) == ["extract", "merge statistics", "train", "merge forests", "evaluate", "save"])
        #expect(steps.first?.rows == 200)
        #expect(steps.dropLast().allSatisfy { $0.endedAt != nil && $0.endedAt! >= $0.startedAt })
    }

    /// A 3-fold job of one partition over two workers: the three fold train tasks are cut in
    /// two tree ranges each, the worker without the partition's spill is streamed its rows
    /// once and keeps them, and every later fold task on either worker reads a spill.
    @Test func crossValidationFoldTasksAreBalancedAndACopyOfTheSpillServesLaterFolds() throws {
        let sim = try SimulatedCluster(partitions: 1, trees: 4, rows: 60, folds: 3)
        sim.add("w1", address: 1, pid: 101)
        sim.add("w2", address: 2, pid: 102)
        try sim.run { try sim.store.stage() == .save || sim.failure != nil }
        #expect(sim.failure == nil)
        let train = try sim.store.tasks().filter { $0.name.kind == .train }
        #expect(train.count == 6 && train.allSatisfy { $0.state == .done && $0.name.variant.treeRange?.count == 2 })
        #expect(try sim.store.checkpointedTrees(partition: 0).count == 12)
        #expect(try sim.store.events(kind: .trainPlan).last?.message.contains("6 train tasks over tree ranges") == true)
        let steps = try sim.store.stageTimings().map(\.step)
        #expect(steps == ["extract", "merge fold statistics", "train", "merge fold forests", "evaluate", "save"])
        let assignments = sim.logs.filter { $0.contains(" on w") && ($0.contains("rows from its spill") || $0.contains("rows streamed")) }
        let streamed = assignments.filter { $0.contains("rows streamed again") }
        #expect(streamed.count == 1, "\(assignments)")
        #expect(assignments.filter { $0.contains("rows from its spill") }.count == 5 + 3, "\(assignments)")
        let status = try JobStatus.load(from: sim.store)
        #expect(status.folds?.map(\.trainTasksDone) == [2, 2, 2])
    }

    /// Kill the coordinator during training and resume from the store: the
    /// job completes with the same trees, and checkpointed trees are not
    /// trained again (the resumed attempts start after them).
    @Test func coordinatorKilledDuringTrainingResumesFromTheStore() throws {
        let clean = try SimulatedCluster(partitions: 2, trees: 8, rows: 100)
        clean.add("w1", address: 1, pid: 101)
        clean.add("w2", address: 2, pid: 102)
        try clean.run { try clean.store.stage() == .save }
        var cleanTrees: [String] = []
        try clean.store.forEachTree { p, i, t in cleanTrees.append("\(p).\(i)=\(String(decoding: t, as: UTF8.self))") }

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("resume-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("job.sqlite").path
        let sim = try SimulatedCluster(partitions: 2, trees: 8, rows: 100, store: try JobStore(path: path))
        sim.add("w1", address: 1, pid: 101)
        sim.add("w2", address: 2, pid: 102)
        try sim.run { try (0..<2).allSatisfy { try sim.store.checkpointedTrees(partition: $0).count >= 2 } }
        let before = try (0..<2).map { try sim.store.checkpointedTrees(partition: $0).count }
        #expect(before.contains { $0 < 4 }, "killed while training (\(before))")
        try sim.restartCoordinator()
        try sim.run { try sim.store.stage() == .save || sim.failure != nil }
        #expect(sim.failure == nil)
        var trees: [String] = []
        try sim.store.forEachTree { p, i, t in trees.append("\(p).\(i)=\(String(decoding: t, as: UTF8.self))") }
        #expect(trees == cleanTrees)
        for p in 0..<2 {
            let attempts = try sim.store.attempts(of: TaskName(.train, p))
            #expect(attempts.first?.outcome == .abandoned || attempts.first?.outcome == .done)
            if let resumed = attempts.last, attempts.count > 1 {
                #expect(
                    resumed.firstTree.map { $0 >= before[p] } == true,
                    "p\(p) resumed at \(String(describing: resumed.firstTree)), \(before[p]) were checkpointed")
            }
            #expect(try sim.store.task(TaskName(.train, p)).failures == 0, "a coordinator restart costs no retry")
        }
        #expect(try (0..<2).contains { try sim.store.attempts(of: TaskName(.train, $0)).count > 1 }, "a train task was resumed")
        #expect(try sim.store.events(kind: .resumed).count == 1)
        #expect(try sim.store.tasks().filter { $0.name.kind == .extract }.allSatisfy { $0.state == .done }, "extraction is not redone")
    }

    /// A limit far too small for a partition's working set: every worker
    /// refuses the train task with a clear message, retries are bounded, and
    /// the job fails saying so — no hang, no OOM kill.
    @Test func taskTooBigForTheLimitFailsTheJobClearly() throws {
        var schema = WireSamples.schema()
        schema.columnCount = 1001  // 1000 features: histograms alone exceed a 64 MiB worker's budget
        schema.labelColumn = 1000
        schema.headerRecord = Data()
        let sim = try SimulatedCluster(partitions: 1, trees: 2, rows: 50, schema: schema)
        sim.add("w1", address: 1, pid: 101, memory: 64 << 20)
        sim.add("w2", address: 2, pid: 102, memory: 64 << 20)
        try sim.run { sim.failure != nil }
        let failure = try #require(sim.failure)
        // Two workers, one partition: its two trees were split in two tree-range tasks, both refused.
        #expect(failure.hasPrefix("train/p0.t0-1 failed 3 times: worker w"), "\(failure)")
        #expect(failure.contains("refused it: train/p0.t0-1 needs ~"))
        #expect(failure.contains("histograms for 2 threads: 23.4 MiB"))
        #expect(
            failure.contains(
                "but this worker's memory limit is 64 MiB, of which tasks may use 11.2 MiB; use more partitions or a larger --memory-limit")
        )
        #expect(try sim.store.stage() == .failed)
        #expect(try sim.store.attempts(of: TaskName(.train, 0, .trees(0..<1))).count == 3)
        #expect(sim.now < 10, "fails fast (\(sim.now) s), no hang")
    }

    /// Issue 6's network cut: a worker host is cut off mid-training, declared
    /// dead, and healed while the job still runs. Its late results from the
    /// reassigned attempt are discarded (recorded in the store), it notices
    /// its session is gone, rejoins, and gets new work; the trees are those
    /// of a run without the cut.
    @Test func cutOffWorkerHealsRejoinsAndItsStaleResultsAreDiscarded() throws {
        let clean = try SimulatedCluster(partitions: 3, trees: 12, rows: 150)
        clean.add("w1", address: 1, pid: 101)
        clean.add("w2", address: 2, pid: 102)
        try clean.run { try clean.store.stage() == .save }
        var cleanTrees: [String] = []
        try clean.store.forEachTree { p, i, t in cleanTrees.append("\(p).\(i)=\(String(decoding: t, as: UTF8.self))") }

        let sim = try SimulatedCluster(partitions: 3, trees: 12, rows: 150)
        sim.add("w1", address: 1, pid: 101)
        sim.add("w2", address: 2, pid: 102)
        try sim.run { try sim.store.events(kind: .checkpoint).contains { $0.task?.kind == .train && $0.workerID == "w1" } }
        let victim = try #require(sim.workers.first { $0.engine.identity.workerID == "w1" })
        victim.alive = false
        try sim.run { try !sim.store.events(kind: .attemptLost).isEmpty }
        let lostAttempt = try #require(sim.store.events(kind: .attemptLost).first?.attemptID)
        let healedAt = sim.now
        victim.alive = true
        try sim.run { try sim.store.stage() == .save || sim.failure != nil }
        #expect(sim.failure == nil)

        var trees: [String] = []
        try sim.store.forEachTree { p, i, t in trees.append("\(p).\(i)=\(String(decoding: t, as: UTF8.self))") }
        #expect(trees == cleanTrees)
        let stale = try sim.store.events(kind: .staleDiscarded)
        #expect(!stale.isEmpty && stale.allSatisfy { $0.attemptID == lostAttempt && $0.workerID == "w1" })
        #expect(try sim.store.events(kind: .workerJoined).filter { $0.workerID == "w1" }.count == 2, "w1 rejoined")
        #expect(try sim.store.workers().first { $0.id == "w1" }?.state == .connected)
        let newWork = try sim.store.tasks().flatMap { try sim.store.attempts(of: $0.name) }
            .filter { $0.workerID == "w1" && $0.startedAt - 1_800_000_000 > healedAt }
        #expect(!newWork.isEmpty, "w1 got new work after rejoining")
        #expect(newWork.allSatisfy { $0.outcome == .done })
    }

    /// Cut a worker off in the middle of training (chosen from the store: as
    /// soon as one of its trees is checkpointed). The job completes on the
    /// other worker, resuming from the checkpoint, and the trees are the
    /// same as without the failure.
    @Test func workerCutOffMidTrainingIsRerunFromCheckpoint() throws {
        let clean = try SimulatedCluster(partitions: 2, trees: 8, rows: 100)
        clean.add("w1", address: 1, pid: 101)
        clean.add("w2", address: 2, pid: 102)
        try clean.run { try clean.store.stage() == .save }
        var cleanTrees: [String] = []
        try clean.store.forEachTree { p, i, t in cleanTrees.append("\(p).\(i)=\(String(decoding: t, as: UTF8.self))") }

        let sim = try SimulatedCluster(partitions: 2, trees: 8, rows: 100)
        sim.add("w1", address: 1, pid: 101)
        sim.add("w2", address: 2, pid: 102)
        var victim: String?
        try sim.run {
            let checkpointed = try sim.store.events(kind: .checkpoint).filter { $0.task?.kind == .train }
            victim = checkpointed.first?.workerID
            return victim != nil
        }
        let cut = try #require(sim.workers.first { $0.engine.identity.workerID == victim })
        cut.alive = false
        let cutAt = sim.now
        try sim.run { try sim.store.stage() == .save || sim.failure != nil }
        #expect(sim.failure == nil)
        var trees: [String] = []
        try sim.store.forEachTree { p, i, t in trees.append("\(p).\(i)=\(String(decoding: t, as: UTF8.self))") }
        #expect(trees == cleanTrees)
        let lost = try sim.store.events(kind: .attemptLost)
        #expect(lost.count == 1 && lost.first?.workerID == victim)
        if ProcessInfo.processInfo.environment["SIM_LOG"] != nil { print(sim.logs.joined(separator: "\n")) }
        #expect(sim.logs.contains { $0.contains("resumed at tree") && $0.contains("rows streamed again") })
        let detectedAt = try #require(lost.first?.at) - 1_800_000_000
        #expect(detectedAt - cutAt >= 5 - 0.2 && detectedAt - cutAt <= 6.5, "detected within the 5 s window (\(detectedAt - cutAt) s)")

        // the victim heals and delivers a stale result: discarded, recorded
        cut.alive = true
        let staleAttempt = try #require(lost.first?.attemptID)
        var c = WireCheckpoint()
        c.taskID = 1
        c.attemptID = staleAttempt
        var t = WireCheckpoint.Trees()
        t.firstTree = 0
        t.treeLengths = [5]
        c.trees = t
        sim.toCoordinator.append(
            (cut.address, try WireMessage(.checkpoint(c), payload: Data("stale".utf8), seq: 999, session: 1).encodeFrames()))
        try sim.step()
        #expect(try sim.store.events(kind: .staleDiscarded).map(\.attemptID) == [staleAttempt])
        var after: [String] = []
        try sim.store.forEachTree { p, i, t in after.append("\(p).\(i)=\(String(decoding: t, as: UTF8.self))") }
        #expect(after == cleanTrees)
    }
}
