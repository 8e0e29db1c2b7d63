import Foundation
import SpaceTime
import Testing

@testable import Forest

@Suite struct ForestTests {
    static func accuracy(_ forest: RandomForest, _ p: BinnedPartition) -> Double {
        let probs = forest.predictProba(binned: p)
        var m = MetricsAggregate(classCount: p.classCount)
        m.add(probabilities: probs, labels: p.labels)
        return m.accuracy
    }

    @Test func separableDataReachesFullTrainingAccuracy() throws {
        var rng = ForestRNG(seed: 1)
        let d = 5
        let n = 600
        var values: [Double] = []
        var labels: [Int32] = []
        for _ in 0..<n {
            // Integer values: each distinct value gets its own bin, so the diagonal
            // boundary is separable on the binned data too.
            let row = (0..<d).map { _ in Double(rng.nextInt(below: 100)) }
            values += row
            labels.append(row[2] + row[4] > 100 ? 1 : 0)
        }
        let (_, p) = try TestData.binned(values: values, labels: labels, features: d)
        for bootstrap in [false, true] {
            var params = ForestParameters()
            params.trees = 25
            params.bootstrap = bootstrap
            let trees = try ForestTrainer(parameters: params, threads: 2).trainTrees(partition: p, partitionIndex: 0, range: 0..<25)
            #expect(Self.accuracy(try TestData.forest(trees), p) == 1.0, "bootstrap \(bootstrap)")
        }
    }

    /// Raw rows are scored by binning them with the model's extractor (``BatchScorer``):
    /// the same probabilities as the partition binned in one go.
    @Test func multiclassProbabilitiesSumToOneAndRawEqualsBinned() throws {
        let d = 6
        let data = try TestData.synthetic(rows: 900, features: d, informative: 4, redundant: 1, classes: 4)
        let (extractor, p) = try TestData.binned(values: data.values, labels: data.labels, features: d)
        var params = ForestParameters()
        params.trees = 12
        params.criterion = .entropy
        let forest = try TestData.forest(
            ForestTrainer(parameters: params, threads: 2).trainTrees(partition: p, partitionIndex: 0, range: 0..<12))
        let binned = forest.predictProba(binned: p, threads: 2)
        let model = try TestData.forestModel(extractor, forest, params)
        for threads in [1, 2] {
            let batch = BatchScorer.predict(model, values: data.values, rows: p.rowCount, threads: threads)
            #expect(batch == binned, "threads \(threads)")
        }
        #expect(forest.classCount == 4)
        for r in 0..<p.rowCount {
            let raw = BatchScorer.predict(model, values: Array(data.values[r * d..<(r + 1) * d]), rows: 1, threads: 1)
            // Leaves are Float shares: Σ leaf / T sums to 1 up to Float rounding.
            #expect(abs(raw.reduce(0, +) - 1) < 1e-6)
            #expect(raw.allSatisfy { $0 >= 0 && $0 <= 1 })
            for c in 0..<4 { #expect(raw[c] == binned[r * 4 + c]) }
        }
        #expect(extractor.classes == ["0", "1", "2", "3"])
        let imp = forest.featureImportances
        #expect(abs(imp.reduce(0, +) - 1) < 1e-9)
    }

    @Test func treesDoNotDependOnThreadCountAndResumeFromAnyTree() throws {
        let d = 8
        let data = try TestData.synthetic(rows: 700, features: d)
        let (extractor, p) = try TestData.binned(values: data.values, labels: data.labels, features: d)
        var params = ForestParameters()
        params.trees = 9
        let one = try ForestTrainer(parameters: params, threads: 1).trainTrees(partition: p, partitionIndex: 3, range: 0..<9)
        let two = try ForestTrainer(parameters: params, threads: 2).trainTrees(partition: p, partitionIndex: 3, range: 0..<9)
        #expect(one == two)
        let fp1 = try TestData.forestModel(extractor, TestData.forest(one), params).fingerprint
        let fp2 = try TestData.forestModel(extractor, TestData.forest(two), params).fingerprint
        #expect(fp1 == fp2)
        // A resumed task (first missing tree 5) produces the same trees 5..<9.
        let resumed = try ForestTrainer(parameters: params, threads: 2).trainTrees(partition: p, partitionIndex: 3, range: 5..<9)
        #expect(resumed == Array(one[5..<9]))
        // Another partition index gives other trees.
        let other = try ForestTrainer(parameters: params, threads: 1).trainTrees(partition: p, partitionIndex: 4, range: 0..<1)
        #expect(other[0] != one[0])
    }

    @Test func treesArriveInIndexOrderAndCallbackErrorsStop() throws {
        let data = try TestData.synthetic(rows: 300, features: 6)
        let (_, p) = try TestData.binned(values: data.values, labels: data.labels, features: 6)
        let seen = Locked<[Int]>([])
        try ForestTrainer(parameters: ForestParameters(), threads: 2).trainTrees(partition: p, partitionIndex: 0, range: 2..<12) { i, _ in
            seen.mutate { $0.append(i) }
        }
        #expect(seen.value == Array(2..<12))
        struct Stop: Error {}
        #expect(throws: Stop.self) {
            try ForestTrainer(parameters: ForestParameters(), threads: 2).trainTrees(partition: p, partitionIndex: 0, range: 0..<20) {
                i, _ in
                if i == 3 { throw Stop() }
            }
        }
    }

    /// Sibling subtraction (max_features = all) must give bit-identical trees to building
    /// every histogram from rows: the packed integer counts subtract exactly.
    @Test(arguments: [2, 3])
    func siblingSubtractionGivesIdenticalTrees(classes: Int) throws {
        let d = 7
        let data = try TestData.synthetic(rows: 3000, features: d, classes: classes, seed: 31, flipY: 0.05)
        let (_, p) = try TestData.binned(values: data.values, labels: data.labels, features: d)
        var params = ForestParameters()
        params.maxFeatures = .all
        let direct = TestData.grower(p, params)
        direct.subtractionEnabled = false
        let subtracting = TestData.grower(p, params)
        subtracting.subtractionMinRows = 40
        for seed in 0..<4 as Range<UInt64> {
            let a = direct.grow(seed: seed)
            let b = subtracting.grow(seed: seed)
            #expect(a == b, "seed \(seed): \(a.nodeCount) vs \(b.nodeCount) nodes")
            #expect(a.nodeCount > 100)
        }
        #expect(subtracting.slabNodes > 20)
        #expect(direct.slabNodes == 0)
    }

    @Test func treeShareSplitsTreesOverPartitions() {
        let shares = (0..<3).map { ForestTrainer.treeShare(totalTrees: 10, partitions: 3, partition: $0).count }
        #expect(shares == [4, 3, 3])
        #expect(ForestTrainer.treeShare(totalTrees: 2, partitions: 4, partition: 3).isEmpty)
    }

    /// 4 sub-forests of 25 trees on stratified quarters vs one 100-tree forest (the 100K
    /// acceptance figure is measured by scripts/compare-sklearn).
    @Test func mergedSubForestsMatchOneForest() throws {
        let d = 10
        // Train and test rows from one stream, so they share the distribution.
        let all = try TestData.synthetic(rows: 12000, features: d, seed: 21)
        let trainValues = Array(all.values[0..<(8000 * d)])
        let trainLabels = Array(all.labels[0..<8000])
        let testValues = Array(all.values[(8000 * d)...])
        let testLabels = Array(all.labels[8000...])
        let (extractor, whole) = try TestData.binned(values: trainValues, labels: trainLabels, features: d)
        let lookup = extractor.classLookup()
        let testBinned = extractor.transform(rowMajor: testValues, labels: testLabels.map { lookup[String($0)]! })
        var params = ForestParameters()
        params.trees = 100
        let trainer = ForestTrainer(parameters: params, threads: 2)
        let single = try TestData.forest(trainer.trainTrees(partition: whole, partitionIndex: 0, range: 0..<100))

        // Quarters by the stratified assigner, binned with the same global edges.
        var assigner = try StratifiedAssigner(seed: 42, testFraction: 0, partitions: 4)
        var quarterValues = [[Double]](repeating: [], count: 4)
        var quarterLabels = [[Int32]](repeating: [], count: 4)
        for r in 0..<8000 {
            let part = assigner.assign(classKey: String(trainLabels[r])).partition
            quarterValues[part] += trainValues[r * d..<(r + 1) * d]
            quarterLabels[part].append(lookup[String(trainLabels[r])]!)
        }
        var subs: [RandomForest.SubForest] = []
        for q in 0..<4 {
            let part = extractor.transform(rowMajor: quarterValues[q], labels: quarterLabels[q])
            let range = ForestTrainer.treeShare(totalTrees: 100, partitions: 4, partition: q)
            subs.append(.init(trees: try trainer.trainTrees(partition: part, partitionIndex: q, range: range), trainingRows: part.rowCount))
        }
        let merged = try RandomForest.merge(subs, task: .classification)
        #expect(merged.trees.count == 100)
        #expect(abs(merged.treeWeights.reduce(0, +) - 1) < 1e-12)
        let a1 = Self.accuracy(single, testBinned)
        let a4 = Self.accuracy(merged, testBinned)
        #expect(a1 > 0.8)
        #expect(abs(a1 - a4) < 0.02, "single \(a1) merged \(a4)")
    }

    /// The merged forest predicts exactly the row-weighted average of its sub-forests'
    /// probabilities (weights by training rows, not by tree count), on binned and raw rows.
    @Test func mergedForestIsRowWeightedAverageOfSubForests() throws {
        let d = 6
        let data = try TestData.synthetic(rows: 3600, features: d, seed: 23, flipY: 0.1)
        let (extractor, _) = try TestData.binned(values: data.values, labels: data.labels, features: d)
        let lookup = extractor.classLookup()
        // Unequal partitions (600, 1200, 1800 rows) with unequal tree counts (7, 3, 5).
        let bounds = [0, 600, 1800, 3600]
        let treeCounts = [7, 3, 5]
        var params = ForestParameters()
        params.trees = 15
        let trainer = ForestTrainer(parameters: params, threads: 2)
        var subs: [RandomForest.SubForest] = []
        for p in 0..<3 {
            let part = extractor.transform(
                rowMajor: Array(data.values[bounds[p] * d..<bounds[p + 1] * d]),
                labels: data.labels[bounds[p]..<bounds[p + 1]].map { lookup[String($0)]! })
            subs.append(
                .init(
                    trees: try trainer.trainTrees(partition: part, partitionIndex: p, range: 0..<treeCounts[p]),
                    trainingRows: part.rowCount))
        }
        let merged = try RandomForest.merge(subs, task: .classification)
        let test = try TestData.synthetic(rows: 500, features: d, seed: 24, flipY: 0.1)
        let testBinned = extractor.transform(rowMajor: test.values, labels: test.labels.map { lookup[String($0)]! })
        let got = merged.predictProba(binned: testBinned)
        var expected = [Double](repeating: 0, count: got.count)
        for (p, sub) in subs.enumerated() {
            let share = Double(bounds[p + 1] - bounds[p]) / 3600
            for (i, v) in try TestData.forest(sub.trees).predictProba(binned: testBinned).enumerated() { expected[i] += share * v }
        }
        // A merged classification forest renormalises each row to sum 1.
        expected.withUnsafeMutableBufferPointer { e in
            for r in 0..<500 { RandomForest.normalize(UnsafeMutableBufferPointer(rebasing: e[r * 2..<(r + 1) * 2])) }
        }
        #expect(zip(got, expected).allSatisfy { abs($0 - $1) < 1e-12 })
        // Raw rows binned by the batch scorer give the same probabilities.
        let model = try TestData.forestModel(extractor, merged, params)
        #expect(BatchScorer.predict(model, values: test.values, rows: 500, threads: 2) == got)
        // Weights: rows_p / Σ rows / T_p.
        #expect(abs(merged.treeWeights[0] - 600.0 / 3600 / 7) < 1e-15)
        #expect(abs(merged.treeWeights[7] - 1200.0 / 3600 / 3) < 1e-15)
        #expect(abs(merged.treeWeights[14] - 1800.0 / 3600 / 5) < 1e-15)
    }

    @Test func outOfBagScoreIsSane() throws {
        let data = try TestData.synthetic(rows: 800, features: 8)
        let (extractor, p) = try TestData.binned(values: data.values, labels: data.labels, features: 8)
        var params = ForestParameters()
        params.trees = 20
        let trainer = ForestTrainer(parameters: params, threads: 2)
        let trees = try trainer.trainTrees(partition: p, partitionIndex: 0, range: 0..<20)
        let oob = trainer.outOfBagMetrics(partition: p, partitionIndex: 0, trees: trees, task: extractor.task)
        #expect(oob.rowCount > 780)  // P(row in bag for all 20 trees) ≈ 1e-4
        let accuracy = try #require(oob.classification).accuracy
        #expect(accuracy > 0.7 && accuracy < 1.0)
    }

    @Test func parametersValidate() {
        var p = ForestParameters()
        p.minSamplesLeaf = 0
        #expect(throws: ForestError.self) { try p.validate() }
        #expect(MaxFeatures.sqrt.resolve(featureCount: 50) == 7)
        #expect(MaxFeatures.log2.resolve(featureCount: 50) == 5)
        #expect(MaxFeatures.fraction(0.5).resolve(featureCount: 50) == 25)
        #expect(MaxFeatures(parsing: "0.3") == .fraction(0.3))
        #expect(MaxFeatures(parsing: "bogus") == nil)
    }
}

final class Locked<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: T
    init(_ v: T) { storage = v }
    var value: T {
        lock.lock()
        defer { lock.unlock() }
        return storage
    }
    func mutate(_ f: (inout T) -> Void) {
        lock.lock()
        f(&storage)
        lock.unlock()
    }
}
