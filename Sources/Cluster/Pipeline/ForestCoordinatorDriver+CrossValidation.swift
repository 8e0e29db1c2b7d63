import Forest
import Foundation
import SpaceTime

/// A cross-validation job's coordinator steps (``JobSpec/folds`` = K, plan
/// ``JobPlan/crossValidation``): the stages of training, each producing one artifact per fold
/// (and, over a `cv --grid` of G points, per point).
///
/// * merge fold statistics: every partition's ``FoldStatistics`` (its checkpoint) → fold k's
///   extractor, fitted on the other folds' statistics only (artifact `extractor-f<k+1>`),
///   shared by every grid point;
/// * merge fold forests: point g's fold k forest is every partition's trees of block (g, k)
///   of its ``FoldTreeLayout``, each partition's sub-forest weighted by its rows outside
///   fold k (artifact ``JobArtifact/foldModelName(_:point:)``);
/// * save: the metrics of each (point, fold) are the merge, in partition order, of the
///   evaluate tasks' aggregates over the fold's rows (``CrossValidationJobResult``).
///
/// The fold artifacts are kept in the store, so a resumed coordinator serves the same bytes.
extension ForestCoordinatorDriver {
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
            try store.putArtifact(JobArtifact.foldExtractorName(k), Data(extractor.serialize()), now: time.wall)
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

    /// The blobs of the artifacts `names` in the store; nil when one is missing.
    private func artifactBlobs(_ engine: CoordinatorEngine, _ names: [String]) throws -> [WireBlob]? {
        var blobs: [WireBlob] = []
        for name in names {
            guard let bytes = try store.artifact(name), let blob = try engine.addArtifactBlob(name, digest: Digest.of(bytes)) else {
                return nil
            }
            blobs.append(blob)
        }
        return blobs
    }

    /// Serves the fold extractors in the store to the fold tasks; false when one is missing.
    @discardableResult
    func openFoldExtractors(_ engine: CoordinatorEngine, folds K: Int) throws -> Bool {
        guard let blobs = try artifactBlobs(engine, JobArtifact.foldExtractors.storeNames(folds: K)),
            let first = try store.artifact(JobArtifact.foldExtractorName(0))
        else { return false }
        engine.histogramWordsPerBin = Self.histogramWordsPerBin(try FeatureExtractor(deserializing: [UInt8](first)).task)
        engine.extractorForTask = { task in task.variant.fold.flatMap { blobs.indices.contains($0) ? blobs[$0] : nil } }
        engine.extractor = blobs[0]
        engine.gates.produce(.foldExtractors)
        return true
    }

    /// Every partition's layout of the job's (point, fold) forests, in partition order.
    private func foldLayouts(folds K: Int) throws -> [FoldTreeLayout] {
        guard let spec = try store.jobSpec(), spec.folds == K else {
            throw PipelineError(.missingArtifact, "the job store holds no \(K)-fold cross-validation job")
        }
        return (0..<spec.partitions).compactMap { spec.foldLayout(partition: $0) }
    }

    func mergeFoldForests(_ engine: CoordinatorEngine, folds K: Int, at time: EngineTime, into out: inout [CoordinatorOutput]) throws {
        let partitions = try store.partitions()
        let statistics = try foldStatistics()
        let layouts = try foldLayouts(folds: K)
        let points = try settings.parameters.pointParameters()
        guard layouts.count == partitions.count, layouts.allSatisfy({ $0.points == points.count }),
            zip(layouts, partitions).allSatisfy({ $0.partitionTrees == $1.trees })
        else {
            throw PipelineError(.badParameters, "the job's partitions do not hold the trees of \(points.count) point(s) × \(K) folds")
        }
        // trees[g][k][p]: partition p's trees of point g's fold k forest, in index order.
        var trees = Array(
            repeating: Array(repeating: Array(repeating: [Tree](), count: partitions.count), count: K), count: points.count)
        try store.forEachTree { p, index, blob in
            guard let b = layouts[p].block(ofTree: index),
                index == layouts[p].trees(ofFold: b.fold, point: b.point).lowerBound + trees[b.point][b.fold][p].count
            else {
                throw PipelineError(.missingArtifact, "partition \(p): a tree before tree \(index) is missing from the store")
            }
            trees[b.point][b.fold][p].append(try Tree(deserializing: [UInt8](blob)))
        }
        var extractors: [FeatureExtractor] = []
        for k in 0..<K {
            guard let bytes = try store.artifact(JobArtifact.foldExtractorName(k)) else {
                throw PipelineError(.missingArtifact, "fold \(k + 1)'s extractor is missing from the store")
            }
            extractors.append(try FeatureExtractor(deserializing: [UInt8](bytes)))
        }
        var fingerprints: [String] = []
        for (g, parameters) in points.enumerated() {
            let which = points.count > 1 ? " of point \(g + 1)" : ""
            for k in 0..<K {
                var parts: [RandomForest.SubForest] = []
                for p in partitions {
                    let share = layouts[p.partition].shares[g]
                    guard trees[g][k][p.partition].count == share else {
                        throw PipelineError(
                            .missingArtifact,
                            "partition \(p.partition) has \(trees[g][k][p.partition].count) of its \(share) trees of fold \(k + 1)\(which)")
                    }
                    let rows = statistics[p.partition].rowCounts
                    parts.append(RandomForest.SubForest(trees: trees[g][k][p.partition], trainingRows: rows.reduce(0, +) - rows[k]))
                }
                let model = try ForestModel(
                    schema: settings.parameters.schema, extractor: extractors[k], parameters: parameters,
                    forest: try RandomForest.merge(parts, task: extractors[k].task.kind), testMetrics: nil, outOfBagMetrics: nil,
                    provenance: [:])
                try store.putArtifact(JobArtifact.foldModelName(k, point: g), Data(model.serialize()), now: time.wall)
                fingerprints.append(model.fingerprintHex)
            }
        }
        try openFoldModels(engine, folds: K)
        let what = points.count > 1 ? "\(points.count) points × \(K) fold forests" : "\(K) fold forests"
        out.append(
            .log(
                .info, "merged the trees of \(partitions.count) partitions into \(what) (\(fingerprints.joined(separator: ", ")))"
            ))
    }

    /// Serves the (point, fold) models in the store to the fold evaluate tasks; false when one is missing.
    @discardableResult
    func openFoldModels(_ engine: CoordinatorEngine, folds K: Int) throws -> Bool {
        let points = (try store.jobSpec())?.points ?? 1
        guard let blobs = try artifactBlobs(engine, JobArtifact.foldModels.storeNames(folds: K, points: points)) else { return false }
        engine.modelForTask = { task in
            guard let k = task.variant.fold, k < K else { return nil }
            let index = (task.variant.point ?? 0) * K + k
            return blobs.indices.contains(index) ? blobs[index] : nil
        }
        engine.model = blobs[0]
        engine.gates.produce(.foldModels)
        return true
    }

    func saveCrossValidation(_ engine: CoordinatorEngine, at time: EngineTime, into out: inout [CoordinatorOutput]) throws {
        let started = ContinuousClock.now
        let job = try CrossValidationJobResult(store: store)
        let best = job.points[job.ranking[0]]
        for s in best.summaries where s.mean.isFinite { try store.setMetric("cv_\(s.name)", s.mean) }
        try store.setMetric("cv_folds", Double(best.folds.count))
        if job.points.count > 1 {
            try store.setMetric("cv_points", Double(job.points.count))
            try store.setMetric("cv_best_point", Double(job.ranking[0] + 1))
        }
        let took = started.duration(to: .now)
        try store.stepEnded("save", rows: nil, now: time.wall + took.seconds)
        try store.setStage(.done, now: time.wall)
        let score = best.score
        out.append(
            .log(
                .info,
                "\(best.folds.count)-fold cross-validation\(job.points.count > 1 ? " of \(job.points.count) points, best [\(best.label)]" : ""): mean \(score.name) \(String(format: "%.4f ± %.4f", score.mean, score.standardDeviation))"
            ))
        out += engine.shutdown(reason: "the job is done", at: time)
        markFinished()
    }
}

/// The result of a finished cross-validation job, read from its store: each grid point's
/// fold k's metrics merge its evaluate tasks' aggregates in partition order; its test rows
/// are the fold's rows, its training rows all the others.
public struct CrossValidationJobResult: Sendable {
    public var task: Forest.TaskKind
    /// The class labels (classification), in the models' order.
    public var classes: [String]
    /// Rows over all folds.
    public var rows: Int
    /// Each grid point's cross-validation (one without a grid), in point order; `cpuSeconds` is 0.
    public var points: [CrossValidationResult]
    /// Each point's fold models' fingerprints (hex), in fold order.
    public var fingerprints: [[String]]

    /// Points best first (``CrossValidationResult/ranking(_:)``).
    public var ranking: [Int] { CrossValidationResult.ranking(points) }

    public init(store: JobStore) throws {
        guard let spec = try store.jobSpec(), let K = spec.folds else {
            throw PipelineError(.missingArtifact, "the job store holds no cross-validation job")
        }
        let parameters = try ForestJobParameters(deserializing: spec.parameters)
        let pointParameters = try parameters.pointParameters()
        let labels = try parameters.pointLabels()
        var statistics: [FoldStatistics] = []
        try store.forEachExtractStats { _, blob in statistics.append(try FoldStatistics(deserializing: [UInt8](blob))) }
        let rows = (0..<K).map { k in statistics.reduce(0) { $0 + ($1.rowCounts.indices.contains(k) ? $1.rowCounts[k] : 0) } }
        let total = rows.reduce(0, +)
        let evaluations = try store.tasks().filter { $0.name.kind == .evaluate && $0.name.variant.fold != nil }
        var points: [CrossValidationResult] = []
        var fingerprints: [[String]] = []
        var first: ForestModel?
        for g in pointParameters.indices {
            let which = pointParameters.count > 1 ? " of point \(g + 1)" : ""
            var folds: [CrossValidationResult.Fold] = []
            var prints: [String] = []
            for k in 0..<K {
                guard let metrics = try Self.foldMetrics(store: store, evaluations: evaluations, fold: k, point: g) else {
                    throw PipelineError(.missingArtifact, "fold \(k + 1)\(which) has no evaluate task in the job store")
                }
                folds.append(.init(trainRows: total - rows[k], testRows: rows[k], metrics: metrics))
                guard let bytes = try store.artifact(JobArtifact.foldModelName(k, point: g)) else {
                    throw PipelineError(.missingArtifact, "fold \(k + 1)'s model\(which) is missing from the job store")
                }
                let model = try ForestModel(deserializing: [UInt8](bytes))
                prints.append(model.fingerprintHex)
                if first == nil { first = model }
            }
            points.append(CrossValidationResult(label: labels[g], parameters: pointParameters[g], folds: folds, cpuSeconds: 0))
            fingerprints.append(prints)
        }
        task = first?.extractor.task.kind ?? .classification
        classes = first?.extractor.classes ?? []
        self.rows = total
        self.points = points
        self.fingerprints = fingerprints
    }

    /// Every row's out-of-fold prediction by grid point `point`'s fold forests, in input order:
    /// the predictions the fold evaluate tasks returned (a job started with
    /// ``CoordinatorJob/Options/keepPredictions``).
    public static func outOfFoldPredictions(store: JobStore, point: Int = 0) throws -> OutOfFoldPredictions {
        var all: OutOfFoldPredictions?
        for t in try store.tasks() where t.name.kind == .evaluate && t.name.variant.fold != nil && t.name.variant.point == point {
            guard let p = try foldEvaluation(store: store, t.name).predictions else {
                throw PipelineError(
                    .missingArtifact, "\(t.name) kept no out-of-fold predictions: the job was started without --oof-out")
            }
            if all == nil { all = p } else { try all!.append(p) }
        }
        guard var all else { throw PipelineError(.missingArtifact, "the job store holds no fold evaluate task of point \(point + 1)") }
        all.sort()
        return all
    }

    /// Point g's fold k metrics: the merge, in partition order, of the aggregates of its
    /// evaluate tasks among `evaluations`; nil when it has none.
    static func foldMetrics(store: JobStore, evaluations: [TaskRecord], fold k: Int, point g: Int = 0) throws -> EvaluationMetrics? {
        var metrics: EvaluationMetrics?
        let tasks = evaluations.filter { $0.name.kind == .evaluate && $0.name.variant.fold == k && $0.name.variant.point == g }
        for t in tasks.sorted(by: { $0.name < $1.name }) {
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
