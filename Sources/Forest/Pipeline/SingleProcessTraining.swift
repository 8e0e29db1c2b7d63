import Foundation
import SpaceTime

/// Options of a single-process training run (`spacetime train`).
public struct TrainingOptions: Sendable {
    public var trainFile: String
    /// Held-out rows from a separate file instead of a fraction of `trainFile`.
    public var testFile: String?
    /// Label column name; nil = last column.
    public var labelColumn: String?
    public var testFraction: Double = 0.2
    public var partitions: Int = 1
    public var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    public var parameters = ForestParameters()
    public var outOfBag = false
    public var maxBins = FeatureExtractor.maxValueBins

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
    /// Wall-clock seconds per phase: read, fit, bin, train, evaluate.
    public var phaseSeconds: [(String, Double)]
    /// Process CPU seconds (all threads) per phase, same names.
    public var phaseCPUSeconds: [(String, Double)]
}

/// Raw rows buffered for one partition between the extraction pass and binning.
struct PartitionRows {
    var values: [Double] = []
    var labels: [Int32] = [] // interned label ids
    var lines: [Int32] = []
    var count: Int { labels.count }
}

/// The single-process pipeline, step for step what the distributed run does:
/// 1. stream the CSV once, assigning each row (train/test, partition) with SpaceTime's
///    `StratifiedAssigner(seed: parameters.seed, testFraction:, partitions:)`;
/// 2. per partition, accumulate a ``PartialExtractorState``; merge them in partition order
///    and ``FeatureExtractor/fit(from:inputNames:derivationIdentifier:maxBins:)``;
/// 3. per partition, bin with the global edges (``BinnedPartitionBuilder``) and grow its
///    share of the trees (``ForestTrainer/treeShare(totalTrees:partitions:partition:)``,
///    ``ForestTrainer/trainTrees(partition:partitionIndex:range:)``);
/// 4. ``RandomForest/merge(_:)`` the sub-forests weighted by training rows;
/// 5. per partition, score its test rows into a ``MetricsAggregate``; merge in partition order.
public enum SingleProcessTraining {
    public static func run(_ options: TrainingOptions,
                           derivation: (any FeatureDerivation)? = nil,
                           provenance: [String: String] = [:],
                           log: (String) -> Void = { _ in }) throws -> TrainingResult {
        try options.validate()
        let P = options.partitions
        var assigner: StratifiedAssigner
        do {
            assigner = try StratifiedAssigner(seed: options.parameters.seed,
                                              testFraction: options.testFile == nil ? options.testFraction : 0,
                                              partitions: P)
        } catch {
            throw ForestError(.invalidParameter, error.description)
        }
        var phases: [(String, Double)] = [], cpuPhases: [(String, Double)] = []
        var clock = ContinuousClock.now
        var cpuClock = processCPUSeconds()
        func lap(_ name: String) {
            let now = ContinuousClock.now, cpu = processCPUSeconds()
            let d = now - clock
            phases.append((name, Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18))
            cpuPhases.append((name, cpu - cpuClock))
            clock = now
            cpuClock = cpu
        }

        // 1. Stream the training file once.
        let source = try LabeledCSV(path: options.trainFile, label: options.labelColumn)
        defer { source.close() }
        let inputNames = source.featureNames
        let preparer = RowPreparer(derivation: derivation, inputNames: inputNames)
        let featureNames = derivation?.outputNames(inputNames: inputNames) ?? inputNames
        var states = Array(repeating: PartialExtractorState(featureNames: featureNames), count: P)
        var train = Array(repeating: PartitionRows(), count: P)
        var test = Array(repeating: PartitionRows(), count: P)
        var labelIDs: [String: Int32] = [:], labelTexts: [String] = []
        func intern(_ l: String) -> Int32 {
            if let id = labelIDs[l] { return id }
            let id = Int32(labelTexts.count)
            labelIDs[l] = id
            labelTexts.append(l)
            return id
        }
        var row = [Double](), label: String? = nil
        var index = 0
        while try source.next(features: &row, label: &label) {
            let l = label!
            let a = assigner.assign(classKey: l)
            index += 1
            let prepared = preparer.prepare(row)
            if a.isTest {
                test[a.partition].values.append(contentsOf: prepared)
                test[a.partition].labels.append(intern(l))
                test[a.partition].lines.append(Int32(truncatingIfNeeded: source.line))
            } else {
                states[a.partition].add(prepared, label: l)
                train[a.partition].values.append(contentsOf: prepared)
                train[a.partition].labels.append(intern(l))
            }
        }
        if let testFile = options.testFile {
            let t = try LabeledCSV(path: testFile, label: source.labelName, expectedFeatures: inputNames)
            defer { t.close() }
            guard t.labelIndex != nil else {
                throw ForestError(.invalidData, "\(testFile): no label column '\(source.labelName ?? "")'")
            }
            // Test rows are spread over the partitions by their own stratified assigner.
            var testAssigner: StratifiedAssigner
            do { testAssigner = try StratifiedAssigner(seed: options.parameters.seed, testFraction: 0, partitions: P) }
            catch { throw ForestError(.invalidParameter, error.description) }
            while try t.next(features: &row, label: &label) {
                let p = testAssigner.assign(classKey: label!).partition
                test[p].values.append(contentsOf: preparer.prepare(row))
                test[p].labels.append(intern(label!))
                test[p].lines.append(Int32(truncatingIfNeeded: t.line))
            }
        }
        let trainRows = train.reduce(0) { $0 + $1.count }, testRows = test.reduce(0) { $0 + $1.count }
        log("read \(index) rows from \(options.trainFile): \(trainRows) train, \(testRows) test, \(featureNames.count) features, \(P) partition(s)")
        lap("read")

        // 2. Merge partial states in partition order; fit the extractor.
        let merged = try PartialExtractorState.merged(states)
        let extractor = try FeatureExtractor.fit(from: merged, inputNames: inputNames,
                                                 derivationIdentifier: derivation?.identifier ?? "",
                                                 maxBins: options.maxBins)
        let classOf = labelTexts.map { extractor.classIndex(of: $0).map(Int32.init) }
        lap("fit")

        // 3. Bin and train each partition's share of the trees.
        let trainer = ForestTrainer(parameters: options.parameters, threads: options.threads)
        var subForests: [RandomForest.SubForest] = []
        var oob: MetricsAggregate? = options.outOfBag ? MetricsAggregate(classCount: extractor.classCount) : nil
        var binSeconds = 0.0, binCPU = 0.0
        for p in 0..<P {
            let share = ForestTrainer.treeShare(totalTrees: options.parameters.trees, partitions: P, partition: p)
            guard train[p].count > 0 else {
                if !share.isEmpty {
                    throw ForestError(.invalidData, "partition \(p) received no training rows; use fewer partitions")
                }
                continue
            }
            let binStart = ContinuousClock.now, binCPUStart = processCPUSeconds()
            let binned = extractor.transform(rowMajor: train[p].values, labels: train[p].labels.map { classOf[Int($0)]! })
            let d = ContinuousClock.now - binStart
            binSeconds += Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
            binCPU += processCPUSeconds() - binCPUStart
            train[p] = PartitionRows() // release raw rows
            let trees = try trainer.trainTrees(partition: binned, partitionIndex: p, range: share)
            if oob != nil {
                try oob!.merge(trainer.outOfBagMetrics(partition: binned, partitionIndex: p, trees: trees, firstTree: share.lowerBound))
            }
            subForests.append(RandomForest.SubForest(trees: trees, trainingRows: binned.rowCount))
        }
        let forest = try RandomForest.merge(subForests)
        lap("train")
        phases[phases.count - 1].1 -= binSeconds
        cpuPhases[cpuPhases.count - 1].1 -= binCPU
        phases.insert(("bin", binSeconds), at: phases.count - 1)
        cpuPhases.insert(("bin", binCPU), at: cpuPhases.count - 1)

        // 5. Evaluate per partition, merge in partition order.
        var metrics: MetricsAggregate? = nil
        if testRows > 0 {
            var total = MetricsAggregate(classCount: extractor.classCount)
            for p in 0..<P where test[p].count > 0 {
                var labels: [Int32] = []
                labels.reserveCapacity(test[p].count)
                for (k, id) in test[p].labels.enumerated() {
                    guard let c = classOf[Int(id)] else {
                        throw ForestError(.invalidData,
                            "\(options.testFile ?? options.trainFile):\(test[p].lines[k]): label '\(labelTexts[Int(id)])' does not occur in the training rows")
                    }
                    labels.append(c)
                }
                let binned = extractor.transform(rowMajor: test[p].values, labels: labels)
                var part = MetricsAggregate(classCount: extractor.classCount)
                part.add(probabilities: forest.predictProba(binned: binned, threads: options.threads), labels: labels)
                try total.merge(part)
            }
            metrics = total
        }
        lap("evaluate")

        var prov = provenance
        prov["train_rows"] = String(trainRows)
        prov["test_rows"] = String(testRows)
        prov["partitions"] = String(P)
        prov["source"] = options.trainFile
        let model = try ForestModel(labelColumn: source.labelName ?? "label", extractor: extractor,
                                    parameters: options.parameters, forest: forest,
                                    testMetrics: metrics, outOfBagMetrics: oob, provenance: prov)
        return TrainingResult(model: model, trainRows: trainRows, testRows: testRows,
                              partitionRows: subForests.map(\.trainingRows), phaseSeconds: phases,
                              phaseCPUSeconds: cpuPhases)
    }
}
