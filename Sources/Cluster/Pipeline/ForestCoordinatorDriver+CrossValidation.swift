import Forest
import Foundation
import SpaceTime

/// A cross-validation job's coordinator steps (``JobSpec/folds`` = K, plan
/// ``JobPlan/crossValidation``): the stages of training, each producing one artifact per fold.
///
/// * merge fold statistics: every partition's ``FoldStatistics`` (its checkpoint) → fold k's
///   extractor, fitted on the other folds' statistics only (artifact `extractor-f<k+1>`);
/// * merge fold forests: fold k's forest is every partition's trees k·s ..< (k+1)·s, each
///   partition's sub-forest weighted by its rows outside fold k (artifact `model-f<k+1>`);
/// * save: the metrics of each fold are the merge, in partition order, of the evaluate
///   tasks' aggregates over the fold's rows (``CrossValidationJobResult``).
///
/// The fold artifacts are kept in the store, so a resumed coordinator serves the same bytes.
extension ForestCoordinatorDriver {
    static func foldExtractorArtifact(_ k: Int) -> String { "extractor-f\(k + 1)" }
    static func foldModelArtifact(_ k: Int) -> String { "model-f\(k + 1)" }

    /// The job's folds, in partition order of their statistics.
    func foldStatistics() throws -> [FoldStatistics] {
        var partitions: [FoldStatistics] = []
        try store.forEachExtractStats { _, blob in partitions.append(try FoldStatistics(deserializing: [UInt8](blob))) }
        guard partitions.count == settings.partitions else {
            throw PipelineError(
                .missingArtifact, "fold statistics of \(partitions.count) of \(settings.partitions) partitions are in the store")
        }
        return partitions
    }

    func mergeFoldStatistics(_ engine: CoordinatorEngine, folds K: Int, at time: EngineTime, into out: inout [CoordinatorOutput])
        throws
    {
        let partitions = try foldStatistics()
        guard partitions.allSatisfy({ $0.folds.count == K }) else {
            throw PipelineError(.badInput, "a partition's statistics do not hold \(K) folds")
        }
        for k in 0..<K {
            let extractor: FeatureExtractor
            do {
                extractor = try FoldStatistics.extractor(
                    heldOut: k, partitions: partitions, inputNames: settings.parameters.schema.featureNames,
                    derivationIdentifier: settings.parameters.derivation, maxBins: settings.parameters.maxBins)
            } catch {
                throw PipelineError(.badInput, "cannot fit fold \(k + 1)'s feature extractor: \(error)")
            }
            try store.putArtifact(Self.foldExtractorArtifact(k), Data(extractor.serialize()), now: time.wall)
            engine.histogramWordsPerBin = Self.histogramWordsPerBin(extractor.task)
        }
        try openFoldExtractors(engine, folds: K)
        let rows = (0..<K).map { k in partitions.reduce(0) { $0 + $1.rowCounts[k] } }
        out.append(
            .log(
                .info,
                "merged statistics of \(partitions.count) partitions into \(K) fold extractors (folds of \(rows.map(String.init).joined(separator: ", ")) rows)"
            ))
    }

    /// The blobs of the K fold artifacts `name(k)` in the store; nil when one is missing.
    private func foldBlobs(_ engine: CoordinatorEngine, folds K: Int, _ name: (Int) -> String) throws -> [WireBlob]? {
        var blobs: [WireBlob] = []
        for k in 0..<K {
            guard let bytes = try store.artifact(name(k)), let blob = try engine.addArtifactBlob(name(k), digest: Digest.of(bytes)) else {
                return nil
            }
            blobs.append(blob)
        }
        return blobs
    }

    /// Serves the fold extractors in the store to the fold tasks; false when one is missing.
    @discardableResult
    func openFoldExtractors(_ engine: CoordinatorEngine, folds K: Int) throws -> Bool {
        guard let blobs = try foldBlobs(engine, folds: K, Self.foldExtractorArtifact),
            let first = try store.artifact(Self.foldExtractorArtifact(0))
        else { return false }
        engine.histogramWordsPerBin = Self.histogramWordsPerBin(try FeatureExtractor(deserializing: [UInt8](first)).task)
        engine.extractorForTask = { task in task.variant.fold.flatMap { blobs.indices.contains($0) ? blobs[$0] : nil } }
        engine.extractor = blobs[0]
        engine.gates.produce(.foldExtractors)
        return true
    }

    func mergeFoldForests(_ engine: CoordinatorEngine, folds K: Int, at time: EngineTime, into out: inout [CoordinatorOutput]) throws {
        let partitions = try store.partitions()
        let statistics = try foldStatistics()
        // trees[k][p]: partition p's trees of fold k's forest, in index order.
        var trees = Array(repeating: Array(repeating: [Tree](), count: partitions.count), count: K)
        try store.forEachTree { p, index, blob in
            let layout = FoldTreeLayout(folds: K, partitionTrees: partitions[p].trees)
            guard let k = layout.fold(ofTree: index), index == layout.trees(ofFold: k).lowerBound + trees[k][p].count else {
                throw PipelineError(.missingArtifact, "partition \(p): a tree before tree \(index) is missing from the store")
            }
            trees[k][p].append(try Tree(deserializing: [UInt8](blob)))
        }
        var fingerprints: [String] = []
        for k in 0..<K {
            guard let bytes = try store.artifact(Self.foldExtractorArtifact(k)) else {
                throw PipelineError(.missingArtifact, "fold \(k + 1)'s extractor is missing from the store")
            }
            let extractor = try FeatureExtractor(deserializing: [UInt8](bytes))
            var parts: [RandomForest.SubForest] = []
            for p in partitions {
                let share = FoldTreeLayout(folds: K, partitionTrees: p.trees).share
                guard trees[k][p.partition].count == share else {
                    throw PipelineError(
                        .missingArtifact,
                        "partition \(p.partition) has \(trees[k][p.partition].count) of its \(share) trees of fold \(k + 1)")
                }
                let rows = statistics[p.partition].rowCounts
                parts.append(RandomForest.SubForest(trees: trees[k][p.partition], trainingRows: rows.reduce(0, +) - rows[k]))
            }
            let model = try ForestModel(
                schema: settings.parameters.schema, extractor: extractor, parameters: settings.parameters.forest,
                forest: try RandomForest.merge(parts, task: extractor.task.kind), testMetrics: nil, outOfBagMetrics: nil,
                provenance: [:])
            try store.putArtifact(Self.foldModelArtifact(k), Data(model.serialize()), now: time.wall)
            fingerprints.append(model.fingerprintHex)
        }
        try openFoldModels(engine, folds: K)
        out.append(
            .log(
                .info, "merged the trees of \(partitions.count) partitions into \(K) fold forests (\(fingerprints.joined(separator: ", ")))"
            ))
    }

    /// Serves the fold models in the store to the fold evaluate tasks; false when one is missing.
    @discardableResult
    func openFoldModels(_ engine: CoordinatorEngine, folds K: Int) throws -> Bool {
        guard let blobs = try foldBlobs(engine, folds: K, Self.foldModelArtifact) else { return false }
        engine.modelForTask = { task in task.variant.fold.flatMap { blobs.indices.contains($0) ? blobs[$0] : nil } }
        engine.model = blobs[0]
        engine.gates.produce(.foldModels)
        return true
    }

    func saveCrossValidation(_ engine: CoordinatorEngine, at time: EngineTime, into out: inout [CoordinatorOutput]) throws {
        let started = ContinuousClock.now
        let folds = try CrossValidationJobResult(store: store).folds
        let result = CrossValidationResult(label: "", parameters: settings.parameters.forest, folds: folds, cpuSeconds: 0)
        for s in result.summaries where s.mean.isFinite { try store.setMetric("cv_\(s.name)", s.mean) }
        try store.setMetric("cv_folds", Double(folds.count))
        let took = started.duration(to: .now)
        try store.stepEnded("save", rows: nil, now: time.wall + took.seconds)
        try store.setStage(.done, now: time.wall)
        let score = result.score
        out.append(
            .log(
                .info,
                "\(folds.count)-fold cross-validation: mean \(score.name) \(String(format: "%.4f ± %.4f", score.mean, score.standardDeviation))"
            ))
        out += engine.shutdown(reason: "the job is done", at: time)
        markFinished()
    }
}

/// The result of a finished cross-validation job, read from its store: fold k's metrics
/// merge its evaluate tasks' aggregates in partition order; its test rows are the fold's
/// rows, its training rows all the others.
public struct CrossValidationJobResult: Sendable {
    public var task: Forest.TaskKind
    /// The class labels (classification), in the models' order.
    public var classes: [String]
    /// Rows over all folds.
    public var rows: Int
    public var folds: [CrossValidationResult.Fold]
    /// Each fold model's fingerprint (hex).
    public var fingerprints: [String]

    public init(store: JobStore) throws {
        guard let spec = try store.jobSpec(), let K = spec.folds else {
            throw PipelineError(.missingArtifact, "the job store holds no cross-validation job")
        }
        var statistics: [FoldStatistics] = []
        try store.forEachExtractStats { _, blob in statistics.append(try FoldStatistics(deserializing: [UInt8](blob))) }
        let rows = (0..<K).map { k in statistics.reduce(0) { $0 + ($1.rowCounts.indices.contains(k) ? $1.rowCounts[k] : 0) } }
        let total = rows.reduce(0, +)
        let evaluations = try store.tasks().filter { $0.name.kind == .evaluate && $0.name.variant.fold != nil }
        var folds: [CrossValidationResult.Fold] = []
        var fingerprints: [String] = []
        var first: ForestModel?
        for k in 0..<K {
            guard let metrics = try Self.foldMetrics(store: store, evaluations: evaluations, fold: k) else {
                throw PipelineError(.missingArtifact, "fold \(k + 1) has no evaluate task in the job store")
            }
            folds.append(.init(trainRows: total - rows[k], testRows: rows[k], metrics: metrics))
            guard let bytes = try store.artifact(ForestCoordinatorDriver.foldModelArtifact(k)) else {
                throw PipelineError(.missingArtifact, "fold \(k + 1)'s model is missing from the job store")
            }
            let model = try ForestModel(deserializing: [UInt8](bytes))
            fingerprints.append(model.fingerprintHex)
            if first == nil { first = model }
        }
        task = first?.extractor.task.kind ?? .classification
        classes = first?.extractor.classes ?? []
        self.rows = total
        self.folds = folds
        self.fingerprints = fingerprints
    }

    /// Every row's out-of-fold prediction, in input order: the predictions the fold evaluate
    /// tasks returned (a job started with ``CoordinatorJob/Options/keepPredictions``).
    public static func outOfFoldPredictions(store: JobStore) throws -> OutOfFoldPredictions {
        var all: OutOfFoldPredictions?
        for t in try store.tasks() where t.name.kind == .evaluate && t.name.variant.fold != nil {
            guard let p = try foldEvaluation(store: store, t.name).predictions else {
                throw PipelineError(
                    .missingArtifact, "\(t.name) kept no out-of-fold predictions: the job was started without --oof-out")
            }
            if all == nil { all = p } else { try all!.append(p) }
        }
        guard var all else { throw PipelineError(.missingArtifact, "the job store holds no fold evaluate task") }
        all.sort()
        return all
    }

    /// Fold k's metrics: the merge, in partition order, of the aggregates of its evaluate
    /// tasks among `evaluations`; nil when it has none.
    static func foldMetrics(store: JobStore, evaluations: [TaskRecord], fold k: Int) throws -> EvaluationMetrics? {
        var metrics: EvaluationMetrics?
        for t in evaluations.filter({ $0.name.kind == .evaluate && $0.name.variant.fold == k }).sorted(by: { $0.name < $1.name }) {
            let m = try foldEvaluation(store: store, t.name).metrics
            if metrics == nil { metrics = m } else { try metrics!.merge(m) }
        }
        return metrics
    }

    /// What fold evaluate task `task` returned (`fold-evaluation/<task>` in the store).
    private static func foldEvaluation(
        store: JobStore, _ task: TaskName
    ) throws -> (metrics: EvaluationMetrics, permutation: PermutationImportance?, predictions: OutOfFoldPredictions?) {
        guard let data = try store.artifact(JobStore.foldEvaluationArtifact(task)) else {
            throw PipelineError(.missingArtifact, "the metrics of \(task) are missing from the job store")
        }
        return try EvaluationResult.decode([UInt8](data))
    }
}
