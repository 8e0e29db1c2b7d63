import Forest
import Foundation
import SpaceTime

/// Where the driver's progress goes.
public enum ProgressOutput: Sendable {
    /// A plain log line every `progressInterval` seconds, and a line when a stage ends.
    case lines
    /// Nothing.
    case none
    /// Snapshots for a terminal bar (`ProgressTerminal.show`).
    case snapshots(@Sendable (ProgressSnapshot) -> Void)
}

/// How a job ended, as the driver saw it.
public enum JobOutcome: Sendable {
    case done(modelPath: String)
    case failed(String)
    /// The coordinator was stopped (`stop()`, on a signal) before the job ended: it is resumable.
    case stopped
}

/// The coordinator's job driver over the Forest engine, run on the ROUTER
/// thread after every engine tick:
///
/// * feeds open row streams with one streaming pass over the CSV at a time
///   (`RowPass` over `CSVRecordSource`; a pass feeds every stream open when
///   it starts, a later stream waits for the next pass);
/// * when extraction is done, merges the statistics checkpoints in partition
///   order into the fitted extractor (artifact `extractor`);
/// * when training is done, merges the trees (read from the store in
///   partition / tree order, sub-forests weighted by their partition's
///   training rows) into the model (artifact `model`, without metrics);
/// * when evaluation is done, merges the metric aggregates in partition
///   order and saves the model atomically; the job is `done`.
///
/// Every merge uses the same Forest functions as `SingleProcessTraining`, so
/// the fingerprint equals `spacetime train --partitions P`'s.
public final class ForestCoordinatorDriver: CoordinatorDriver {
    public struct Settings: Sendable {
        public var dataPath: String
        /// `--test-file`: every record a test row, streamed after `dataPath` (same header).
        public var testPath: String?
        public var layout: CSVLayout
        public var parameters: ForestJobParameters
        public var testFraction: Double
        public var partitions: Int
        /// A cross-validation job's fold count (``JobSpec/folds``); nil for training.
        public var folds: Int?
        public var modelOut: String
        public var provenance: [String: String] = [:]
        public var rowLimits = RowPass.Limits(batchRows: 2048, batchBytes: 1 << 20)
        /// The coordinator's own memory budget (bytes): merging forests that cannot
        /// fit it fails the job with the reason instead of growing past it.
        public var memoryLimit: UInt64?
        /// How evaluate tasks score (``ScoringPlan``): `auto` decides from the merged model's
        /// size and the connected workers' smallest memory limit.
        public var scoring = ScoringPlan.Choice.auto
        /// Slices of a sharded evaluation (nil: planned).
        public var slices: Int?
        /// Seconds between progress snapshots (plain lines: every 2 s; a bar: a few per second).
        public var progressInterval: Double = 2
        /// Where progress goes.
        public var progress: ProgressOutput = .lines

        public init(
            dataPath: String, layout: CSVLayout, parameters: ForestJobParameters, testFraction: Double,
            partitions: Int, modelOut: String
        ) {
            self.dataPath = dataPath
            self.layout = layout
            self.parameters = parameters
            self.testFraction = testFraction
            self.partitions = partitions
            self.modelOut = modelOut
        }
    }

    /// Merged models up to this size are served to workers from memory.
    static let inMemoryModelBytes = 64 << 20

    let store: JobStore
    let settings: Settings
    private let onFinished: @Sendable (JobOutcome) -> Void
    private var pass: RowPass?
    private var passes = 0
    private var restored = false
    private var model: ForestModel?
    private var finished = false
    private var lastProgress = 0.0
    /// Records read by the current (or the last finished) pass.
    private var passRecords = 0
    private var source: CSVRecordSource?
    private lazy var dataBytes: Int = {
        ([settings.dataPath] + (settings.testPath.map { [$0] } ?? [])).reduce(0) {
            $0 + ((try? CSVInput(path: $1))?.estimatedTextBytes().bytes ?? 0)
        }
    }()
    private var display = ProgressDisplay()
    /// The stage at the last `drive`, and when it was first seen.
    private var stageSeen: (stage: JobStage?, since: Double) = (nil, 0)

    public init(store: JobStore, settings: Settings, onFinished: @escaping @Sendable (JobOutcome) -> Void) {
        self.store = store
        self.settings = settings
        self.onFinished = onFinished
    }

    /// Rows are waiting to be read and sent (the pass stopped at its record quota, not for credit).
    public var hasWorkNow: Bool {
        guard let pass, !finished else { return false }
        return !pass.isBlocked && !pass.isFinished
    }

    public func drive(_ engine: CoordinatorEngine, at time: EngineTime) throws -> [CoordinatorOutput] {
        guard !finished else { return [] }
        var out: [CoordinatorOutput] = []
        do {
            try restoreArtifacts(engine)
            try pumpRows(engine, at: time, into: &out)
            let stage = try store.stage()
            // A stage change is reported at once: a stage shorter than the progress interval
            // would otherwise never be shown (nor get its finished line on a terminal).
            var stageChanged = false
            if stage != stageSeen.stage {
                stageSeen = (stage, time.monotonic)
                stageChanged = true
            }
            // The coordinator's own steps, as the job's plan names them (the engine keeps the
            // step its last scheduling pass found; a `produce` step's tasks before it are done).
            switch (stage, engine.currentStep) {
            case (.merge?, .produce(let artifact, _)?) where !engine.gates.has(artifact):
                try produce(artifact, engine, at: time, into: &out)
            case (.save?, _) where settings.folds != nil:
                try saveCrossValidation(engine, at: time, into: &out)
            case (.save?, _):
                try save(engine, at: time, into: &out)
            case (.failed?, _):
                finished = true
                onFinished(.failed(try store.failure() ?? "the job failed"))
            case (.done?, _):
                finished = true
                out += engine.shutdown(reason: "the job is done", at: time)
                onFinished(.done(modelPath: settings.modelOut))
            default:
                break
            }
            if stageChanged || time.monotonic - lastProgress >= settings.progressInterval {
                lastProgress = time.monotonic
                try reportProgress(at: time, into: &out)
            }
        } catch {
            let message = (error as? PipelineError)?.message ?? "\(error)"
            try store.failJob(message, now: time.wall)
            out.append(.log(.error, "job failed: \(message)"))
            out += engine.shutdown(reason: "job failed: \(message)", at: time)
            finished = true
            onFinished(.failed(message))
        }
        return out
    }

    /// Runs the coordinator step that produces `artifact`.
    private func produce(
        _ artifact: JobArtifact, _ engine: CoordinatorEngine, at time: EngineTime, into out: inout [CoordinatorOutput]
    ) throws {
        switch artifact {
        case .extractor:
            try mergeStatistics(engine, at: time, into: &out)
        case .model:
            // `auto` scoring is chosen from the connected workers' limits: a resumed job
            // whose trees are all trained waits for its first worker before it merges.
            if try settings.scoring != .auto || store.workers().contains(where: { $0.state == .connected }) {
                try mergeForests(engine, at: time, into: &out)
            }
        case .foldExtractors:
            try mergeFoldStatistics(engine, folds: try foldCount(), at: time, into: &out)
        case .foldModels:
            try mergeFoldForests(engine, folds: try foldCount(), at: time, into: &out)
        }
    }

    /// The fold count of a cross-validation job (its plan merges fold artifacts).
    private func foldCount() throws -> Int {
        guard let K = settings.folds else { throw PipelineError(.badParameters, "a fold step in a job without folds") }
        return K
    }

    /// The job is done (its output written): no more driving.
    func markFinished() {
        finished = true
        onFinished(.done(modelPath: settings.modelOut))
    }

    /// After a restart: the merged artifacts already in the store open their gates.
    private func restoreArtifacts(_ engine: CoordinatorEngine) throws {
        guard !restored else { return }
        restored = true
        if let K = settings.folds {
            if try openFoldExtractors(engine, folds: K) { try openFoldModels(engine, folds: K) }
            return
        }
        if !engine.gates.has(.extractor), let bytes = try store.artifact("extractor") {
            let extractor = try FeatureExtractor(deserializing: [UInt8](bytes))
            engine.histogramWordsPerBin = Self.histogramWordsPerBin(extractor.task)
            engine.extractor = try engine.addArtifactBlob("extractor", digest: Digest.of(bytes))
            engine.gates.produce(.extractor)
        }
        if !engine.gates.has(.model), let bytes = try store.artifact("model") {
            engine.model = try engine.addArtifactBlob("model", digest: Digest.of(bytes))
            engine.gates.produce(.model)
        }
    }

    private func pumpRows(_ engine: CoordinatorEngine, at time: EngineTime, into out: inout [CoordinatorOutput]) throws {
        if pass == nil, !engine.rowStreams.isEmpty {
            let source = try CSVRecordSource(
                path: settings.dataPath, labelIndex: settings.layout.labelIndex,
                stratify: settings.parameters.schema.task == .classification, seed: settings.parameters.forest.seed,
                testFraction: settings.testFraction,
                partitions: settings.partitions, testPath: settings.testPath,
                options: settings.layout.csvOptions,
                // Numbered only for workers that received the job's file list.
                numbersFiles: !settings.parameters.files.isEmpty, folds: settings.folds ?? 0)
            let p = RowPass(source: source, sink: engine, limits: settings.rowLimits)
            pass = p
            self.source = source
            passes += 1
            out.append(
                .log(
                    .info,
                    "pass \(passes) over \(settings.dataPath)\(settings.testPath.map { " and \($0)" } ?? "") for \(p.targets.keys.sorted().map { "p\($0)" }.joined(separator: ", "))"
                ))
        }
        guard let p = pass else { return }
        // Bounded by time, not only by records: the ROUTER thread neither receives nor heartbeats while
        // it pumps, and 20,000 records could take over 5 s in a debug build on a busy machine, so
        // workers declared the coordinator silent (the multi-host test's spurious reconnects).
        let deadline = ContinuousClock.now.advanced(by: .milliseconds(100))
        repeat {
            let before = p.recordsRead
            out += try p.pump(into: engine, at: time, maxRecords: 2_000)
            if p.recordsRead == before { break }  // waiting for credit
        } while !p.isFinished && ContinuousClock.now < deadline
        passRecords = Int(p.recordsRead)
        if p.isFinished {
            out.append(.log(.info, "pass \(passes) finished: \(p.recordsRead) records read"))
            pass = nil
        }
    }

    /// Histogram words per bin of the fitted task (the objectives' `cellWords`): a count
    /// per class for classification, two sums for regression. The cluster layer passes
    /// it on without knowing what the words hold (the workers' admission check).
    static func histogramWordsPerBin(_ task: LearningTask) -> Int {
        switch task.kind {
        case .classification: task.classes.count
        case .regression: 2
        }
    }

    private func mergeStatistics(_ engine: CoordinatorEngine, at time: EngineTime, into out: inout [CoordinatorOutput]) throws {
        var merged: PartialExtractorState?
        var count = 0
        try store.forEachExtractStats { _, blob in
            let state = try PartialExtractorState(deserializing: [UInt8](blob))
            if merged == nil { merged = state } else { try merged!.merge(state) }
            count += 1
        }
        guard let merged, count == settings.partitions else {
            throw PipelineError(.missingArtifact, "statistics of \(count) of \(settings.partitions) partitions are in the store")
        }
        let extractor: FeatureExtractor
        do {
            extractor = try FeatureExtractor.fit(
                from: merged, inputNames: settings.parameters.schema.featureNames,
                derivationIdentifier: settings.parameters.derivation,
                maxBins: settings.parameters.maxBins)
        } catch {
            throw PipelineError(.badInput, "cannot fit the feature extractor: \(error)")
        }
        let bytes = Data(extractor.serialize())
        try store.putArtifact("extractor", bytes, now: time.wall)
        engine.histogramWordsPerBin = Self.histogramWordsPerBin(extractor.task)
        engine.extractor = try engine.addArtifactBlob("extractor", digest: Digest.of(bytes))
        engine.gates.produce(.extractor)
        out.append(
            .log(
                .info,
                "merged statistics of \(count) partitions: \(extractor.featureCount) features (\(settings.parameters.schema.categoricalCount) categorical), \(extractor.task.kind == .classification ? "classes \(extractor.classes.prefix(20).joined(separator: ", "))" : "regression") (\(ByteCount(UInt64(bytes.count))) extractor)"
            ))
    }

    private func mergeForests(_ engine: CoordinatorEngine, at time: EngineTime, into out: inout [CoordinatorOutput]) throws {
        guard let extractorBytes = try store.artifact("extractor") else {
            throw PipelineError(.missingArtifact, "the merged extractor is missing from the store")
        }
        let extractor = try FeatureExtractor(deserializing: [UInt8](extractorBytes))
        let partitions = try store.partitions()
        if let limit = settings.memoryLimit {
            let stored = try store.storedTreeBytes()
            let check = Self.mergeFits(storedTreeBytes: stored, currentRSS: UInt64(max(0, MemorySample.current().rssAnon)), limit: limit)
            if !check.fits {
                throw PipelineError(
                    .jobFailed,
                    "merging the forest needs ~\(ByteCount(check.needed)) (\(ByteCount(stored)) of trees in the store, decoded and re-encoded into the model) on top of the coordinator's \(ByteCount(UInt64(max(0, MemorySample.current().rssAnon)))), more than its \(ByteCount(limit)) --memory-limit; give the coordinator more memory (--memory-limit) or grow smaller trees (--max-depth, --min-samples-leaf, fewer --trees)"
                )
            }
        }
        var trees = Array(repeating: [Tree](), count: partitions.count)
        try store.forEachTree { p, index, blob in
            guard index == trees[p].count else {
                throw PipelineError(.missingArtifact, "partition \(p): tree \(trees[p].count) is missing from the store")
            }
            trees[p].append(try Tree(deserializing: [UInt8](blob)))
        }
        var parts: [RandomForest.SubForest] = []
        for p in partitions {
            guard trees[p.partition].count == p.trees else {
                throw PipelineError(.missingArtifact, "partition \(p.partition) has \(trees[p.partition].count) of its \(p.trees) trees")
            }
            parts.append(RandomForest.SubForest(trees: trees[p.partition], trainingRows: p.trainRows ?? 0))
        }
        let forest = try RandomForest.merge(parts, task: extractor.task.kind)
        let model = try ForestModel(
            schema: settings.parameters.schema, extractor: extractor,
            parameters: settings.parameters.forest, forest: forest,
            testMetrics: nil, outOfBagMetrics: nil, provenance: [:])
        let bytes = Data(model.serialize())
        // Workers fetch the model chunk by chunk for evaluation. Up to
        // `inMemoryModelBytes` it is served from memory and not written to the store:
        // it is a pure function of the stored trees and extractor, so a resumed
        // coordinator merges it again (same bytes). A larger model is stored and
        // served from the store, so the coordinator does not hold it.
        if bytes.count <= Self.inMemoryModelBytes {
            engine.model = engine.addBlob(bytes, digest: Digest.of(bytes))
        } else {
            try store.putArtifact("model", bytes, now: time.wall)
            engine.model = try engine.addArtifactBlob("model", digest: Digest.of(bytes))
        }
        try planEvaluation(engine, model: model, modelBytes: bytes.count, at: time, into: &out)
        engine.gates.produce(.model)
        self.model = model
        out.append(
            .log(
                .info,
                "merged \(forest.trees.count) trees of \(partitions.count) partitions (model \(ByteCount(UInt64(bytes.count))), fingerprint \(model.fingerprintHex))"
            ))
    }

    /// Chooses whole-model or tree-sharded evaluation (``ScoringPlan``), logs and records
    /// the choice; sharded, splits each partition's evaluate task in one task per tree slice
    /// (a resumed job keeps the split it has) and gives each its slice's blob.
    private func planEvaluation(
        _ engine: CoordinatorEngine, model: ForestModel, modelBytes: Int, at time: EngineTime,
        into out: inout [CoordinatorOutput]
    ) throws {
        let evaluate = try store.tasks().filter { $0.name.kind == .evaluate }
        var ranges = Set(evaluate.compactMap { $0.name.variant.treeRange })
        if ranges.isEmpty {
            let layout = ForestScoringLayout(model.forest)
            let limit = try store.workers().filter { $0.state == .connected }.map(\.memoryLimit).min() ?? UInt64.max
            let permutation = settings.parameters.permutationRepeats > 0
            var (plan, reason) = ScoringPlan.choose(
                permutation ? .whole : settings.scoring, layout: layout,
                modelBytes: UInt64(modelBytes), memoryLimit: limit, slices: permutation ? nil : settings.slices)
            if permutation { reason = "whole-model scoring: permutation importance needs the whole model on each evaluate task" }
            out.append(.log(.info, "evaluate: \(reason)"))
            try store.log(.scoringPlan, "evaluate: \(reason)", now: time.wall)
            guard case .sharded(let slices) = plan else { return }
            for t in evaluate where t.name.variant == .whole {
                try store.splitEvaluateTask(partition: t.name.partition, into: slices, now: time.wall)
            }
            ranges = Set(slices)
        }
        var blobs: [Range<Int>: WireBlob] = [:]
        for r in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            let bytes: Data
            do { bytes = Data(try ForestModelSlice(model, trees: r).serialize()) } catch {
                throw PipelineError(.jobFailed, "slicing the model at trees \(r): \(error)")
            }
            if bytes.count <= Self.inMemoryModelBytes {
                blobs[r] = engine.addBlob(bytes, digest: Digest.of(bytes))
            } else {
                let name = "model-slice-\(r.lowerBound)-\(r.upperBound)"
                try store.putArtifact(name, bytes, now: time.wall)
                blobs[r] = try engine.addArtifactBlob(name, digest: Digest.of(bytes))
            }
        }
        engine.modelForTask = { task in task.kind == .evaluate ? task.variant.treeRange.flatMap { blobs[$0] } : nil }
    }

    /// Stores each sliced partition's evaluation: its slices' scores added in the model's
    /// grouping, then scored, which is what a whole-model evaluate task would have stored.
    private func combineSliceScores(_ model: ForestModel) throws {
        let sliced = try store.tasks().filter { $0.name.kind == .evaluate && $0.name.variant != .whole }
        guard !sliced.isEmpty else { return }
        let layout = ForestScoringLayout(model.forest)
        for (p, tasks) in Dictionary(grouping: sliced, by: { $0.name.partition }).sorted(by: { $0.key < $1.key }) {
            var parts: [SliceScores] = []
            for t in tasks.sorted(by: { $0.name < $1.name }) {
                guard let data = try store.artifact(JobStore.sliceScoresArtifact(t.name)) else {
                    throw PipelineError(.missingArtifact, "the scores of \(t.name) are missing from the job store")
                }
                parts.append(try SliceScores(deserializing: data))
            }
            let metrics = try SliceScores.metrics(parts, layout: layout, task: model.extractor.task)
            try store.putEvaluation(
                partition: p, attemptID: tasks.compactMap(\.currentAttempt).max() ?? 0,
                result: Data(EvaluationResult.encode(metrics, permutation: nil)))
        }
    }

    /// Whether merging fits the coordinator's budget: the decoded trees, the
    /// merged forest and the serialized model each take about the stored
    /// bytes, and they are alive together for a moment.
    static func mergeFits(storedTreeBytes: UInt64, currentRSS: UInt64, limit: UInt64) -> (fits: Bool, needed: UInt64) {
        let (tripled, overflow) = storedTreeBytes.multipliedReportingOverflow(by: 3)
        let needed = overflow ? UInt64.max : tripled
        let (total, over) = currentRSS.addingReportingOverflow(needed)
        return (!over && total <= limit, needed)
    }

    /// Seconds the save stage waits before it writes (`SPACETIME_TEST_SAVE_DELAY_MS`): for tests
    /// that land a signal in this stage, as the workers' task delays do in theirs.
    private static let testSaveDelay =
        ProcessInfo.processInfo.environment["SPACETIME_TEST_SAVE_DELAY_MS"].flatMap(Double.init).map { $0 / 1000 } ?? 0

    private func save(_ engine: CoordinatorEngine, at time: EngineTime, into out: inout [CoordinatorOutput]) throws {
        let started = ContinuousClock.now
        if Self.testSaveDelay > 0 { Thread.sleep(forTimeInterval: Self.testSaveDelay) }
        var model: ForestModel
        if let m = self.model {
            model = m
        } else if let bytes = try store.artifact("model") {
            model = try ForestModel(deserializing: [UInt8](bytes), context: "model in the job store")
        } else {
            throw PipelineError(.missingArtifact, "the merged model is missing from the store")
        }
        try combineSliceScores(model)
        var metrics = EvaluationMetrics(task: model.extractor.task)
        for (_, blob) in try store.evaluationResults().sorted(by: { $0.partition < $1.partition }) {
            try metrics.merge(try EvaluationResult.decode([UInt8](blob)).metrics)
        }
        let partitions = try store.partitions()
        var provenance = settings.provenance
        provenance["train_rows"] = String(partitions.reduce(0) { $0 + ($1.trainRows ?? 0) })
        provenance["test_rows"] = String(partitions.reduce(0) { $0 + ($1.testRows ?? 0) })
        provenance["partitions"] = String(partitions.count)
        provenance["source"] = settings.dataPath
        model = try ForestModel(
            schema: model.schema, extractor: model.extractor, parameters: model.parameters,
            forest: model.forest, testMetrics: metrics.rowCount > 0 ? metrics : nil,
            outOfBagMetrics: nil, provenance: provenance)
        do {
            try model.save(to: settings.modelOut)
        } catch {
            throw PipelineError(.io, "\(error)")
        }
        if let m = metrics.classification, m.rowCount > 0 {
            try store.setMetric("accuracy", m.accuracy)
            try store.setMetric("balanced_accuracy", m.balancedAccuracy)
            if m.auc.isFinite { try store.setMetric("auc", m.auc) }
            try store.setMetric("log_loss", m.logLoss)
        }
        if let m = metrics.regression, m.rowCount > 0 {
            for (name, value) in [("r2", m.r2), ("rmse", m.rmse), ("mae", m.mae)] where value.isFinite {
                try store.setMetric(name, value)
            }
        }
        if metrics.rowCount > 0 { try store.setMetric("test_rows", Double(metrics.rowCount)) }
        try store.putArtifact("fingerprint", Data(model.fingerprintHex.utf8), now: time.wall)
        // `time` is when this loop iteration began: the step ends after the model is written.
        let took = started.duration(to: .now)
        try store.stepEnded("save", rows: nil, now: time.wall + took.seconds)
        try store.setStage(.done, now: time.wall)
        out.append(
            .log(
                .info,
                "saved model \(settings.modelOut) (fingerprint \(model.fingerprintHex)); test \(metrics.classification != nil ? "accuracy" : "R²") \(String(format: "%.4f", metrics.score)) on \(metrics.rowCount) rows"
            ))
        out += engine.shutdown(reason: "the job is done", at: time)
        finished = true
        onFinished(.done(modelPath: settings.modelOut))
    }

    private func reportProgress(at time: EngineTime, into out: inout [CoordinatorOutput]) throws {
        if case .none = settings.progress { return }
        guard let snapshot = try progressSnapshot(at: time) else { return }
        switch settings.progress {
        case .snapshots(let show):
            show(snapshot)
        case .lines:
            for line in display.update(snapshot, padded: false) { out.append(.log(.info, "stage \(line)")) }
            if !["done", "failed"].contains(snapshot.stage) { out.append(.log(.info, "\(display.plainLine())")) }
        case .none:
            break
        }
    }

    /// The job's progress from the store (tasks, checkpointed trees, workers'
    /// last reported RSS) and the current row pass.
    func progressSnapshot(at time: EngineTime) throws -> ProgressSnapshot? {
        guard let stage = try store.stage() else { return nil }
        let tasks = try store.tasks()
        let kind: TaskKind? =
            switch stage {
            case .extract: .extract
            case .train: .train
            case .evaluate: .evaluate
            default: nil
            }
        var s = ProgressSnapshot(stage: stage.rawValue, time: time.monotonic)
        if stageSeen.stage == stage { s.stageStarted = stageSeen.since }
        if let kind {
            let mine = tasks.filter { $0.name.kind == kind }
            s.tasksDone = mine.filter { $0.state == .done }.count
            s.tasksTotal = mine.count
            s.done = Double(s.tasksDone)
            s.total = Double(s.tasksTotal)
        }
        if stage == .extract {
            s.rows = UInt64(passRecords)
            if let read = source?.bytesRead, pass != nil, dataBytes > 0 {
                s.done = Double(read)
                s.total = Double(dataBytes)
                s.unit = "bytes"
            }
        }
        if stage == .train {
            let partitions = try store.partitions()
            let done = try partitions.reduce(0) { $0 + (try store.checkpointedTrees(partition: $1.partition).count) }
            let total = partitions.reduce(0) { $0 + $1.trees }
            s.treesDone = done
            s.treesTotal = total
            s.done = Double(done)
            s.total = Double(total)
            s.unit = "trees"
        }
        s.workers = try store.workers().filter { $0.state == .connected }
            .map { ProgressSnapshot.WorkerMemory(id: $0.id, rss: $0.rss ?? 0, limit: $0.memoryLimit) }
        return s
    }
}
