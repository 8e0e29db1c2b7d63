import Foundation
import SpaceTime

/// Options of a single-process training run (`spacetime train`).
public struct TrainingOptions: Sendable {
    public var trainFile: String
    /// Held-out rows from a separate file instead of a fraction of `trainFile`.
    public var testFile: String?
    public var testFraction: Double = 0.2
    public var partitions: Int = 1
    public var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    public var parameters = ForestParameters()
    public var outOfBag = false
    /// Repeats of the permutation importance on the test rows (0: not computed).
    public var permutationRepeats = 0
    public var maxBins = FeatureExtractor.maxValueBins
    /// Target, task, categorical and ignored columns.
    public var columns = ColumnChoices()
    /// In-memory bytes for each partition's parsed rows before they spill.
    public var rowMemoryBytes = 4 << 30
    /// Parent of the spill directory.
    public var spillBase = SpillDirectory.defaultBase
    /// How the training and test files are written (delimiter, header or column names).
    public var csv = CSVOptions()
    /// The memory the model must be scorable in (``TreeSizeRule``); nil: no rule.
    public var scoringMemoryLimit: UInt64?
    /// The user gave the maximum depth or the minimum leaf rows: the rule only warns.
    public var treeSizeGiven = false

    public init(trainFile: String) { self.trainFile = trainFile }

    public func validate() throws {
        try parameters.validate()
        guard partitions >= 1 else { throw ForestError(.invalidParameter, "partitions must be at least 1, got \(partitions)") }
        guard testFile != nil || (0..<1).contains(testFraction) else {
            throw ForestError(.invalidParameter, "test fraction must be in [0, 1), got \(testFraction)")
        }
    }
}

/// What a training run produced.
public struct TrainingResult: Sendable {
    public var model: ForestModel
    public var trainRows: Int
    public var testRows: Int
    /// Training rows per partition.
    public var partitionRows: [Int]
    /// Wall-clock seconds per phase: read, fit, bin, train, evaluate (and permutation importance when computed).
    public var phaseSeconds: [(String, Double)]
    /// Process CPU seconds (all threads) per phase, same names.
    public var phaseCPUSeconds: [(String, Double)]
    /// Why the task is what it is (``SchemaInference/Inference/reason``).
    public var taskReason: String
    /// Permutation importance on the test rows (with ``TrainingOptions/permutationRepeats``), merged in partition order.
    public var permutationImportance: PermutationImportance?
}

/// The single-process pipeline, step for step what the distributed run does, through
/// the same data set path:
/// 1. decide the schema (``SchemaInference``), then stream the CSV once, assigning each
///    row (train/test, partition) with SpaceTime's `StratifiedAssigner(seed:testFraction:partitions:)`
///    (stratified by class label; one stratum for regression) and handing it to its
///    partition's ``PartitionLoader`` (parse, statistics, row store);
/// 2. merge the partitions' ``PartialExtractorState``s in partition order and
///    ``FeatureExtractor/fit(from:inputNames:derivationIdentifier:maxBins:)``;
/// 3. per partition, bin with the global edges and levels (``PartitionRowStore/bin(extractor:test:threads:source:)``)
///    and grow its share of the trees (``ForestTrainer/treeShare(totalTrees:partitions:partition:)``,
///    ``ForestTrainer/trainTrees(partition:partitionIndex:range:)``);
/// 4. ``RandomForest/merge(_:task:)`` the sub-forests weighted by training rows;
/// 5. per partition, score its test rows (``RandomForest/predict(binned:threads:)``) into
///    ``EvaluationMetrics``; merge in partition order.
public enum SingleProcessTraining {
    /// With `derivationFactory` (and no `derivation`), the derivation is built from the
    /// schema's input feature names once they are known.
    public static func run(
        _ options: TrainingOptions,
        derivation given: (any FeatureDerivation)? = nil,
        derivationFactory: FeatureDerivationRegistry.Factory? = nil,
        provenance: [String: String] = [:],
        log: (String) -> Void = { _ in }
    ) throws -> TrainingResult {
        try options.validate()
        let P = options.partitions
        var assigner: StratifiedAssigner
        do {
            assigner = try StratifiedAssigner(
                seed: options.parameters.seed,
                testFraction: options.testFile == nil ? options.testFraction : 0,
                partitions: P)
        } catch {
            throw ForestError(.invalidParameter, error.description)
        }
        var phases: [(String, Double)] = []
        var cpuPhases: [(String, Double)] = []
        var clock = ContinuousClock.now
        var cpuClock = processCPUSeconds()
        func lap(_ name: String) {
            let now = ContinuousClock.now
            let cpu = processCPUSeconds()
            phases.append((name, (now - clock).seconds))
            cpuPhases.append((name, cpu - cpuClock))
            clock = now
            cpuClock = cpu
        }

        // 1. Decide the schema, then stream the training file once.
        let inference = try SchemaInference.infer(path: options.trainFile, choices: options.columns, options: options.csv)
        let schema = inference.schema
        if (given != nil || derivationFactory != nil) && schema.categoricalCount > 0 {
            throw ForestError(
                .invalidParameter, "a feature derivation needs numeric input columns; \(schema.categoricalCount) column(s) hold text")
        }
        let derivation: (any FeatureDerivation)?
        do { derivation = try given ?? derivationFactory.map { try $0(schema.featureNames) } } catch let e as ForestError { throw e } catch
        {
            throw ForestError(.invalidParameter, "the feature derivation refuses the input columns: \(error)")
        }
        log("\(schema.task.rawValue): \(inference.reason); \(schema.featureCount) features (\(schema.categoricalCount) categorical)")
        let parser = RecordParser(schema: schema, sampledRows: inference.sampledRows)
        let spill: SpillDirectory
        do { spill = try SpillDirectory(base: options.spillBase) } catch {
            throw ForestError(.io, "cannot create a spill directory under \(options.spillBase): \(error)")
        }
        let loaders = (0..<P).map { _ in
            PartitionLoader(parser: parser, derivation: derivation, directory: spill, memoryBytes: options.rowMemoryBytes / P)
        }
        defer { for l in loaders { l.rows.close() } }
        let reader: CSVReader
        do { reader = try CSVReader(path: options.trainFile, options: options.csv) } catch { throw ForestError(.io, error.description) }
        defer { reader.close() }
        let classification = schema.task == .classification
        var index = 0
        while let record = try reader.next() {
            let a =
                classification
                ? record.withField(at: schema.targetIndex!) { assigner.assign(classBytes: $0) }
                : assigner.assign(classKey: "")
            index += 1
            try loaders[a.partition].add(record, isTest: a.isTest, line: UInt64(record.line))
        }
        if let testFile = options.testFile {
            let t: CSVReader
            do { t = try CSVReader(path: testFile, options: options.csv) } catch { throw ForestError(.io, error.description) }
            defer { t.close() }
            let testParser = RecordParser(
                schema: try schema.relocated(header: t.header, file: testFile),
                sampledRows: inference.sampledRows)
            guard testParser.schema.targetIndex != nil else {
                throw ForestError(.invalidData, "\(testFile): no label column '\(schema.targetName ?? "")'")
            }
            // Test rows are spread over the partitions by their own stratified assigner.
            var testAssigner: StratifiedAssigner
            do { testAssigner = try StratifiedAssigner(seed: options.parameters.seed, testFraction: 0, partitions: P) } catch {
                throw ForestError(.invalidParameter, error.description)
            }
            while let record = try t.next() {
                let p = testAssigner.assign(classKey: classification ? try testParser.label(record) : "").partition
                try loaders[p].add(record, isTest: true, line: UInt64(record.line), parser: testParser)
            }
        }
        let trainRows = loaders.reduce(0) { $0 + $1.rows.trainCount }
        let testRows = loaders.reduce(0) { $0 + $1.rows.testCount }
        log(
            "read \(index) rows from \(options.trainFile): \(trainRows) train, \(testRows) test, \(schema.featureCount) features, \(P) partition(s)"
        )
        lap("read")

        // 2. Merge partial states in partition order; fit the extractor.
        let merged = try PartialExtractorState.merged(loaders.map(\.extractorState))
        let extractor = try FeatureExtractor.fit(
            from: merged, inputNames: schema.featureNames,
            derivationIdentifier: derivation?.identifier ?? "",
            maxBins: options.maxBins)
        lap("fit")

        var options = options
        if let limit = options.scoringMemoryLimit {
            let decision = TreeSizeRule.decide(
                parameters: options.parameters, explicit: options.treeSizeGiven,
                partitionRows: loaders.map(\.rows.trainCount), task: extractor.task.kind,
                outputWidth: extractor.task.outputWidth, featureCount: extractor.featureCount,
                memoryLimit: limit)
            log("\(decision.overBudget ? "warning: " : "")tree size: \(decision.message)")
            options.parameters = decision.parameters
        }

        // 3. Bin and train each partition's share of the trees.
        let trainer = ForestTrainer(parameters: options.parameters, threads: options.threads)
        var subForests: [RandomForest.SubForest] = []
        var oob: EvaluationMetrics? = options.outOfBag ? EvaluationMetrics(task: extractor.task) : nil
        var binSeconds = 0.0
        var binCPU = 0.0
        for p in 0..<P {
            let share = ForestTrainer.treeShare(totalTrees: options.parameters.trees, partitions: P, partition: p)
            guard loaders[p].rows.trainCount > 0 else {
                if !share.isEmpty {
                    throw ForestError(.invalidData, "partition \(p) received no training rows; use fewer partitions")
                }
                continue
            }
            let binStart = ContinuousClock.now
            let binCPUStart = processCPUSeconds()
            let binned = try loaders[p].rows.bin(extractor: extractor, test: false, threads: options.threads, source: options.trainFile)
            binSeconds += (ContinuousClock.now - binStart).seconds
            binCPU += processCPUSeconds() - binCPUStart
            let trees = try trainer.trainTrees(partition: binned, partitionIndex: p, range: share)
            if oob != nil {
                try oob!.merge(
                    trainer.outOfBagMetrics(
                        partition: binned, partitionIndex: p, trees: trees,
                        firstTree: share.lowerBound, task: extractor.task))
            }
            subForests.append(RandomForest.SubForest(trees: trees, trainingRows: binned.rowCount))
        }
        let forest = try RandomForest.merge(subForests, task: schema.task)
        lap("train")
        phases[phases.count - 1].1 -= binSeconds
        cpuPhases[cpuPhases.count - 1].1 -= binCPU
        phases.insert(("bin", binSeconds), at: phases.count - 1)
        cpuPhases.insert(("bin", binCPU), at: cpuPhases.count - 1)

        // 5. Evaluate per partition, merge in partition order.
        var metrics: EvaluationMetrics? = nil
        var permutation: PermutationImportance? = nil
        var permutationSeconds = 0.0
        var permutationCPU = 0.0
        if testRows > 0 {
            var total = EvaluationMetrics(task: extractor.task)
            for p in 0..<P where loaders[p].rows.testCount > 0 {
                let binned = try loaders[p].rows.bin(
                    extractor: extractor, test: true, threads: options.threads,
                    source: options.testFile ?? options.trainFile)
                var part = EvaluationMetrics(task: extractor.task)
                part.add(predictions: forest.predict(binned: binned, threads: options.threads), target: binned.target)
                try total.merge(part)
                if options.permutationRepeats > 0 {
                    let start = ContinuousClock.now
                    let startCPU = processCPUSeconds()
                    defer {
                        permutationSeconds += (ContinuousClock.now - start).seconds
                        permutationCPU += processCPUSeconds() - startCPU
                    }
                    let share = PermutationImportance.compute(
                        forest: forest, partition: binned, seed: options.parameters.seed,
                        partitionIndex: p, repeats: options.permutationRepeats,
                        threads: options.threads)
                    if permutation == nil { permutation = share } else { try permutation!.merge(share) }
                }
            }
            metrics = total
        }
        lap("evaluate")
        if permutation != nil {
            phases[phases.count - 1].1 -= permutationSeconds
            cpuPhases[cpuPhases.count - 1].1 -= permutationCPU
            phases.append(("permutation importance", permutationSeconds))
            cpuPhases.append(("permutation importance", permutationCPU))
        }

        var prov = provenance
        prov["train_rows"] = String(trainRows)
        prov["test_rows"] = String(testRows)
        prov["partitions"] = String(P)
        prov["source"] = options.trainFile
        let model = try ForestModel(
            schema: schema, extractor: extractor, parameters: options.parameters, forest: forest,
            testMetrics: metrics, outOfBagMetrics: oob, provenance: prov)
        return TrainingResult(
            model: model, trainRows: trainRows, testRows: testRows,
            partitionRows: subForests.map(\.trainingRows), phaseSeconds: phases,
            phaseCPUSeconds: cpuPhases, taskReason: inference.reason, permutationImportance: permutation)
    }
}
