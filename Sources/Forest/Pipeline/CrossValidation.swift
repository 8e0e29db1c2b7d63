import Foundation
import SpaceTime

/// Options of a single-process cross-validation (`spacetime cv`).
public struct CrossValidationOptions: Sendable {
    public var file: String
    public var folds = 5
    public var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    /// Parameters of every fold's forest; a grid varies them.
    public var parameters = ForestParameters()
    public var grid = ParameterGrid()
    public var maxBins = FeatureExtractor.maxValueBins
    public var columns = ColumnChoices()
    /// Delimiter, header and column names of the file.
    public var csv = CSVOptions()
    /// Keep every row's out-of-fold prediction (for every grid point).
    public var keepPredictions = false
    /// In-memory bytes for the parsed rows of all folds before they spill.
    public var rowMemoryBytes = 4 << 30
    public var spillBase = SpillDirectory.defaultBase

    public init(file: String) { self.file = file }
}

/// What a cross-validation produced.
public struct CrossValidationRun: Sendable {
    public var schema: DatasetSchema
    public var taskReason: String
    public var classes: [String]
    public var rows: Int
    /// One result per grid point, in grid order.
    public var results: [CrossValidationResult]
    /// Per grid point, when ``CrossValidationOptions/keepPredictions`` is set, in input order.
    public var predictions: [OutOfFoldPredictions]
    /// Wall seconds of the read (parse, statistics) and of the per-fold fit and binning.
    public var readSeconds: Double
    public var binSeconds: Double

    /// Grid points best first: by mean headline metric (accuracy or R²), ties in grid order.
    public var ranking: [Int] { CrossValidationResult.ranking(results) }
}

/// K-fold cross-validation in one process, through the same data set path as
/// ``SingleProcessTraining``:
/// 1. decide the schema and stream the CSV once, giving each row to its fold's
///    ``PartitionLoader``: SpaceTime's `StratifiedFoldAssigner` deals each class's rows (all
///    rows, for regression) into the folds by seeded permutations of blocks of K rows, so
///    every fold gets ⌊n_c/K⌋ or ⌈n_c/K⌉ rows of every class and a file sorted by label
///    gives folds that are random samples of each class;
/// 2. per fold k, fit the extractor from the merge of the other folds' statistics only
///    (``FoldStatistics/extractor(heldOut:partitions:inputNames:derivationIdentifier:maxBins:)``),
///    bin every fold with it, and train on the other folds' rows (``FoldedPartition``);
/// 3. per grid point, grow the forest (trees seeded as `train` seeds them) and score fold
///    k's rows; the metrics of each fold and their mean ± standard deviation are the result.
///
/// The extraction and the binned folds are shared by every grid point.
public enum CrossValidation {
    /// Fold counts above this are refused (each fold trains a forest).
    public static let maxFolds = 100

    public static func run(_ options: CrossValidationOptions, log: (String) -> Void = { _ in }) throws -> CrossValidationRun {
        let K = options.folds
        guard (2...maxFolds).contains(K) else {
            throw ForestError(.invalidParameter, "folds must be in 2...\(maxFolds), got \(K)")
        }
        var assigner: StratifiedFoldAssigner
        do { assigner = try StratifiedFoldAssigner(seed: options.parameters.seed, folds: K) } catch {
            throw ForestError(.invalidParameter, error.description)
        }
        var points: [ForestParameters] = []
        for g in 0..<options.grid.count { points.append(try options.grid.parameters(g, base: options.parameters)) }

        var clock = ContinuousClock.now
        let inference = try SchemaInference.infer(path: options.file, choices: options.columns, options: options.csv)
        let schema = inference.schema
        log("\(schema.task.rawValue): \(inference.reason); \(schema.featureCount) features (\(schema.categoricalCount) categorical)")
        let parser = RecordParser(schema: schema, sampledRows: inference.sampledRows)
        let spill: SpillDirectory
        do { spill = try SpillDirectory(base: options.spillBase) } catch {
            throw ForestError(.io, "cannot create a spill directory under \(options.spillBase): \(error)")
        }
        let folded = FoldedPartition(
            folds: K, parser: parser, directory: spill, memoryBytes: options.rowMemoryBytes, keepLines: options.keepPredictions)
        defer { folded.close() }
        let reader: CSVReader
        do { reader = try CSVReader(path: options.file, options: options.csv) } catch { throw ForestError(.io, error.description) }
        defer { reader.close() }
        var rows = 0
        let classification = schema.task == .classification
        while let record = try reader.next() {
            let k =
                classification
                ? record.withField(at: schema.targetIndex!) { assigner.fold(classBytes: $0) }
                : assigner.fold(classKey: "")
            try folded.add(record, fold: k, line: UInt64(record.line))
            rows += 1
        }
        let statistics = folded.statistics
        let sizes = folded.rowCounts
        log("read \(rows) rows from \(options.file): folds of \(sizes.map(String.init).joined(separator: ", ")) rows")
        if let empty = sizes.firstIndex(of: 0) {
            throw ForestError(.invalidData, "\(options.file): fold \(empty + 1) of \(K) received no rows (\(rows) rows); use fewer folds")
        }
        let readSeconds = (ContinuousClock.now - clock).seconds
        let all = try PartialExtractorState.merged(statistics.folds)
        let classes = schema.task == .classification ? try LearningTask.fit(all.target).classes : []

        var folds = [[CrossValidationResult.Fold]](repeating: [], count: points.count)
        var cpu = [Double](repeating: 0, count: points.count)
        var predictions = (0..<points.count).map { _ in OutOfFoldPredictions(width: max(classes.count, 1)) }
        var binSeconds = 0.0
        for k in 0..<K {
            clock = ContinuousClock.now
            let extractor = try FoldStatistics.extractor(
                heldOut: k, partitions: [statistics], inputNames: schema.featureNames, maxBins: options.maxBins)
            let heldOut = try folded.heldOutRows(k, extractor: extractor, threads: options.threads, source: options.file)
            let training = try folded.trainingRows(heldOut: k, extractor: extractor, threads: options.threads, source: options.file)
            binSeconds += (ContinuousClock.now - clock).seconds
            for (g, parameters) in points.enumerated() {
                let start = processCPUSeconds()
                let trainer = ForestTrainer(parameters: parameters, threads: options.threads)
                let trees = try trainer.trainTrees(partition: training, partitionIndex: 0, range: 0..<parameters.trees)
                let forest = try RandomForest.merge(
                    [RandomForest.SubForest(trees: trees, trainingRows: training.rowCount)],
                    task: schema.task)
                let scores = forest.predict(binned: heldOut, threads: options.threads)
                var metrics = EvaluationMetrics(task: extractor.task)
                metrics.add(predictions: scores, target: heldOut.target)
                folds[g].append(.init(trainRows: training.rowCount, testRows: heldOut.rowCount, metrics: metrics))
                if let lines = folded.heldOutLines(k) { predictions[g].append(lines: lines, fold: k, predictions: scores) }
                cpu[g] += processCPUSeconds() - start
                let label = options.grid.axes.isEmpty ? "" : " [\(options.grid.label(g))]"
                log("fold \(k + 1)/\(K)\(label): \(metricLine(metrics))")
            }
        }
        if options.keepPredictions { for g in predictions.indices { predictions[g].sort() } }
        let results = points.indices.map { g in
            CrossValidationResult(
                label: options.grid.axes.isEmpty ? "" : options.grid.label(g), parameters: points[g],
                folds: folds[g], cpuSeconds: cpu[g])
        }
        return CrossValidationRun(
            schema: schema, taskReason: inference.reason, classes: classes, rows: rows, results: results,
            predictions: options.keepPredictions ? predictions : [], readSeconds: readSeconds,
            binSeconds: binSeconds)
    }

    static func metricLine(_ m: EvaluationMetrics) -> String {
        switch m {
        case .classification(let c):
            return String(format: "accuracy %.4f, auc %.4f, log loss %.4f", c.accuracy, c.auc, c.logLoss)
        case .regression(let r):
            return String(format: "r2 %.4f, rmse %.4f, mae %.4f", r.r2, r.rmse, r.mae)
        }
    }
}
