import Foundation
import Testing

@testable import Forest

/// Exhaustive references for the histogram split finder: every threshold (numeric
/// features) or every subset of the node's levels (categorical features), each with
/// missing values on either side.
enum BruteForceSplit {
    enum Objective {
        case classification(SplitCriterion)
        case regression
    }

    /// The objective's proxy score of sending the in-bag rows with `left(bin)` left, or
    /// nil when a side has fewer than `minLeaf` rows.
    static func score(
        _ p: BinnedPartition, feature f: Int, counts: [UInt32], objective: Objective, minLeaf: Int,
        left: (UInt8) -> Bool
    ) -> (score: Double, leftRows: Int)? {
        var leftRows = 0
        var rightRows = 0
        var lc = [Double](repeating: 0, count: max(p.classCount, 1))
        var rc = lc
        var lw = 0.0
        var rw = 0.0
        var ls = 0.0
        var rs = 0.0
        for r in 0..<p.rowCount where counts[r] > 0 {
            let w = Double(counts[r])
            let goesLeft = left(p.bins[f * p.rowCount + r])
            if goesLeft {
                leftRows += 1
                lw += w
            } else {
                rightRows += 1
                rw += w
            }
            switch objective {
            case .classification:
                if goesLeft { lc[Int(p.labels[r])] += w } else { rc[Int(p.labels[r])] += w }
            case .regression:
                if goesLeft { ls += w * p.values[r] } else { rs += w * p.values[r] }
            }
        }
        guard leftRows >= minLeaf, rightRows >= minLeaf else { return nil }
        switch objective {
        case .classification(.gini):
            return (lc.reduce(0) { $0 + $1 * $1 } / lw + rc.reduce(0) { $0 + $1 * $1 } / rw, leftRows)
        case .classification(.entropy):
            func h(_ c: [Double], _ w: Double) -> Double { c.reduce(0) { $0 + xlogx($1) } - xlogx(w) }
            return (h(lc, lw) + h(rc, rw), leftRows)
        case .regression:
            return (ls * ls / lw + rs * rs / rw, leftRows)
        }
    }

    /// The best score over every feature: thresholds × {missing left, missing right} for
    /// numeric features, all subsets of the occupied bins (missing included) for categorical ones.
    static func best(_ p: BinnedPartition, counts: [UInt32], objective: Objective, minLeaf: Int) -> Double? {
        var best: Double? = nil
        func consider(_ s: (score: Double, leftRows: Int)?) {
            if let s, best == nil || s.score > best! { best = s.score }
        }
        for f in 0..<p.featureCount {
            let items = Set((0..<p.rowCount).filter { counts[$0] > 0 }.map { p.bins[f * p.rowCount + $0] }).sorted()
            if p.categorical[f] {
                guard items.count >= 2, items.count <= 16 else { continue }
                for mask in 1..<((1 << items.count) - 1) {
                    let leftSet = Set(items.indices.filter { mask >> $0 & 1 != 0 }.map { items[$0] })
                    consider(score(p, feature: f, counts: counts, objective: objective, minLeaf: minLeaf) { leftSet.contains($0) })
                }
            } else {
                let hasMissing = items.last == FeatureExtractor.missingBin
                for t in items where t != FeatureExtractor.missingBin {
                    for missingLeft in hasMissing ? [false, true] : [false] {
                        consider(
                            score(p, feature: f, counts: counts, objective: objective, minLeaf: minLeaf) { b in
                                b == FeatureExtractor.missingBin ? missingLeft : b <= t
                            })
                    }
                }
            }
        }
        return best
    }

    /// Checks the grower's root split against the exhaustive best, and its own score
    /// and row count against a direct computation from the rows it sends left.
    ///
    /// Not `exact`: the level ordering is optimal only without row constraints (min leaf
    /// > 1 rules out some subsets and can rule out every prefix of the order; levels with
    /// fewer than `minLevelRows` rows are kept right), so the split must then only be
    /// valid and no better than the exhaustive best.
    static func check(
        _ p: BinnedPartition, counts: [UInt32], split: SplitCandidate, objective: Objective, minLeaf: Int,
        exact: Bool = true, minLevelRows: Int = 1, _ context: String
    ) {
        let reference = best(p, counts: counts, objective: objective, minLeaf: minLeaf)
        guard let reference else {
            #expect(!split.isValid, "\(context): found a split where none is allowed")
            return
        }
        #expect(split.isValid || !exact, "\(context): no split found, best \(reference)")
        guard split.isValid else { return }
        if exact {
            #expect(TestData.close(split.score, reference), "\(context): score \(split.score) vs exhaustive \(reference)")
        } else {
            #expect(
                split.score <= reference + 1e-9 * max(1, abs(reference)), "\(context): score \(split.score) above exhaustive \(reference)")
        }
        let direct = score(p, feature: split.feature, counts: counts, objective: objective, minLeaf: minLeaf) { split.goesLeft($0) }
        #expect(direct != nil, "\(context): the chosen split violates min leaf")
        if let direct {
            #expect(TestData.close(split.score, direct.score), "\(context): histogram score \(split.score) vs direct \(direct.score)")
            #expect(split.leftRows == direct.leftRows, "\(context): left rows \(split.leftRows) vs \(direct.leftRows)")
        }
        if split.categorical {
            // The level set's missing bit agrees with the missing direction.
            #expect(split.goesLeft(FeatureExtractor.missingBin) == split.missingLeft, "\(context)")
            // Only levels with `minLevelRows` in-bag rows go left.
            for b in 0..<255 where split.goesLeft(UInt8(b)) {
                let rows = (0..<p.rowCount).filter { counts[$0] > 0 && p.bins[split.feature * p.rowCount + $0] == UInt8(b) }.count
                #expect(rows >= minLevelRows, "\(context): level \(b) with \(rows) rows sent left")
            }
        }
    }
}

/// Random small binned partitions with categorical and numeric features, some values missing.
struct RandomCase {
    var partition: BinnedPartition
    var counts: [UInt32]
    var minLeaf: Int
    /// ``ForestParameters/minCategoryRows``: 1 lets every level of a node into its level-set split.
    var minCategoryRows = 1

    /// `kinds[f]`: true = categorical. Levels/bins per feature are drawn in 2...maxLevels.
    init(seed: UInt64, kinds: [Bool], regression: Bool, classes: Int = 2, maxLevels: Int = 6, missingRate: Double = 0.15) {
        var rng = ForestRNG(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ 17)
        let n = 6 + rng.nextInt(below: 55)
        let d = kinds.count
        let levels = kinds.map { _ in 2 + rng.nextInt(below: maxLevels - 1) }
        // Per feature and bin, an effect on the target (so level order matters).
        let effects = levels.map { l in (0..<l).map { _ in rng.nextUnit() } }
        var bins = [UInt8](repeating: 0, count: n * d)
        var labels: [Int32] = []
        var values: [Double] = []
        let missing = rng.nextInt(below: 2) == 0 ? missingRate : 0
        for r in 0..<n {
            var signal = 0.0
            for f in 0..<d {
                if rng.nextUnit() < missing {
                    bins[f * n + r] = FeatureExtractor.missingBin
                    signal += 0.3
                } else {
                    let b = rng.nextInt(below: levels[f])
                    bins[f * n + r] = UInt8(b)
                    signal += effects[f][b]
                }
            }
            signal /= Double(d)
            if regression {
                // Repeated values on purpose (ties), plus some continuous noise.
                values.append(rng.nextInt(below: 3) == 0 ? Double(rng.nextInt(below: 3)) : signal * 10 + rng.nextUnit())
            } else {
                let u = rng.nextUnit()
                labels.append(classes == 2 ? (u < signal ? 1 : 0) : Int32(min(classes - 1, Int((u + signal) / 2 * Double(classes)))))
            }
        }
        partition = BinnedPartition(
            rowCount: n, featureCount: d, classCount: regression ? 0 : classes, bins: bins,
            target: regression ? .values(values) : .classes(labels),
            valueBins: levels, categorical: kinds)
        counts = (0..<n).map { _ in UInt32(rng.nextInt(below: 4)) }
        if counts.allSatisfy({ $0 == 0 }) { counts[0] = 1 }
        minLeaf = 1 + rng.nextInt(below: 3)
    }

    func parameters(criterion: SplitCriterion = .gini) -> ForestParameters {
        var params = ForestParameters()
        params.maxFeatures = .all
        params.minSamplesLeaf = minLeaf
        params.minCategoryRows = minCategoryRows
        params.criterion = criterion
        return params
    }
}

@Suite struct CategoricalSplitTests {
    /// Binary classification: ordering levels by the share of class 1 finds the best of
    /// all 2^L level subsets (Breiman et al. 1984), for Gini and entropy, with missing
    /// values on their better side (min leaf 1; with a larger min leaf, a valid split no
    /// better than the exhaustive best).
    @Test(arguments: [SplitCriterion.gini, .entropy])
    func binaryClassificationMatchesAllSubsets(criterion: SplitCriterion) {
        for seed in 0..<300 as Range<UInt64> {
            var c = RandomCase(seed: seed, kinds: [true], regression: false)
            let constrained = c.minLeaf
            for (minLeaf, minCategoryRows) in [(1, 1), (constrained, 1), (1, [2, 3, 10][Int(seed % 3)]), (constrained, 3)] {
                c.minLeaf = minLeaf
                c.minCategoryRows = minCategoryRows
                let split = TestData.grower(c.partition, c.parameters(criterion: criterion)).bestRootSplit(counts: c.counts)
                BruteForceSplit.check(
                    c.partition, counts: c.counts, split: split, objective: .classification(criterion),
                    minLeaf: minLeaf, exact: minLeaf == 1 && minCategoryRows == 1, minLevelRows: minCategoryRows,
                    "seed \(seed) (\(c.partition.valueBins[0]) levels, \(c.partition.rowCount) rows, min leaf \(minLeaf), min category rows \(minCategoryRows))"
                )
            }
        }
    }

    /// Regression: ordering levels by their mean target finds the best of all subsets for
    /// squared error (Fisher 1958).
    @Test func regressionMatchesAllSubsets() {
        for seed in 0..<300 as Range<UInt64> {
            var c = RandomCase(seed: seed + 1000, kinds: [true], regression: true)
            let constrained = c.minLeaf
            for (minLeaf, minCategoryRows) in [(1, 1), (constrained, 1), (1, [2, 3, 10][Int(seed % 3)]), (constrained, 3)] {
                c.minLeaf = minLeaf
                c.minCategoryRows = minCategoryRows
                let split = TestData.regressionGrower(c.partition, c.parameters()).bestRootSplit(counts: c.counts)
                BruteForceSplit.check(
                    c.partition, counts: c.counts, split: split, objective: .regression,
                    minLeaf: minLeaf, exact: minLeaf == 1 && minCategoryRows == 1, minLevelRows: minCategoryRows,
                    "seed \(seed) (\(c.partition.valueBins[0]) levels, \(c.partition.rowCount) rows, min leaf \(minLeaf), min category rows \(minCategoryRows))"
                )
            }
        }
    }

    /// Several features of both kinds: the best over all of them.
    @Test func mixedFeaturesMatchBruteForce() {
        for seed in 0..<150 as Range<UInt64> {
            let kinds = [true, false, true]
            var cls = RandomCase(seed: seed + 2000, kinds: kinds, regression: false, maxLevels: 5)
            cls.minLeaf = 1
            BruteForceSplit.check(
                cls.partition, counts: cls.counts,
                split: TestData.grower(cls.partition, cls.parameters()).bestRootSplit(counts: cls.counts),
                objective: .classification(.gini), minLeaf: cls.minLeaf, "classification seed \(seed)")
            var reg = RandomCase(seed: seed + 3000, kinds: kinds, regression: true, maxLevels: 5)
            reg.minLeaf = 1
            BruteForceSplit.check(
                reg.partition, counts: reg.counts,
                split: TestData.regressionGrower(reg.partition, reg.parameters()).bestRootSplit(counts: reg.counts),
                objective: .regression, minLeaf: reg.minLeaf, "regression seed \(seed)")
        }
    }
}

@Suite struct MissingDirectionTests {
    /// Numeric features with missing values: the best over every threshold × {missing
    /// left, missing right} (plus "values versus missing"), for 2 and 3 classes.
    @Test(arguments: [(2, SplitCriterion.gini), (3, .gini), (2, .entropy), (3, .entropy)])
    func classificationMatchesThresholdsTimesSides(classes: Int, criterion: SplitCriterion) {
        for seed in 0..<200 as Range<UInt64> {
            let c = RandomCase(
                seed: seed + UInt64(classes) * 7919, kinds: [false, false], regression: false, classes: classes,
                maxLevels: 12, missingRate: 0.3)
            let split = TestData.grower(c.partition, c.parameters(criterion: criterion)).bestRootSplit(counts: c.counts)
            BruteForceSplit.check(
                c.partition, counts: c.counts, split: split, objective: .classification(criterion),
                minLeaf: c.minLeaf, "seed \(seed)")
        }
    }

    @Test func regressionMatchesThresholdsTimesSides() {
        for seed in 0..<200 as Range<UInt64> {
            let c = RandomCase(seed: seed + 5000, kinds: [false, false], regression: true, maxLevels: 12, missingRate: 0.3)
            let split = TestData.regressionGrower(c.partition, c.parameters()).bestRootSplit(counts: c.counts)
            BruteForceSplit.check(
                c.partition, counts: c.counts, split: split, objective: .regression,
                minLeaf: c.minLeaf, "seed \(seed)")
        }
    }

    /// Missing values that belong with the low values are sent left (they used to go right always).
    @Test func missingValuesFollowTheirTargets() throws {
        // x in 0..<10; y = x < 5 ? 0 : 10; missing rows have y = 0: they must join the low side.
        var bins: [UInt8] = []
        var y: [Double] = []
        for r in 0..<200 {
            if r % 5 == 0 {
                bins.append(FeatureExtractor.missingBin)
                y.append(0)
            } else {
                let x = r % 10
                bins.append(UInt8(x))
                y.append(x < 5 ? 0 : 10)
            }
        }
        let p = BinnedPartition(
            rowCount: 200, featureCount: 1, classCount: 0, bins: bins, target: .values(y),
            valueBins: [10], categorical: [false])
        var params = ForestParameters()
        params.maxFeatures = .all
        let split = TestData.regressionGrower(p, params).bestRootSplit(counts: Array(repeating: 1, count: 200))
        #expect(split.feature == 0 && split.bin == 4 && split.missingLeft)
        // Mirrored: missing rows with the high values go right.
        let mirrored = BinnedPartition(
            rowCount: 200, featureCount: 1, classCount: 0, bins: bins,
            target: .values(zip(bins, y).map { $0 == FeatureExtractor.missingBin ? 10 : $1 }),
            valueBins: [10], categorical: [false])
        let other = TestData.regressionGrower(mirrored, params).bestRootSplit(counts: Array(repeating: 1, count: 200))
        #expect(other.feature == 0 && other.bin == 4 && !other.missingLeft)
    }
}

@Suite struct RegressionTreeTests {
    /// Every leaf of a grown regression tree holds the weighted mean target of the in-bag
    /// rows that reach it, computed directly from the rows.
    @Test func leavesAreTheWeightedMeansOfTheirRows() throws {
        var rng = ForestRNG(seed: 99)
        let n = 3000
        let d = 3
        var values: [Double] = []
        var y: [Double] = []
        for _ in 0..<n {
            let row = [rng.nextUnit() * 10, rng.nextUnit() < 0.1 ? .nan : rng.nextUnit(), Double(rng.nextInt(below: 20))]
            values += row
            y.append(row[0] * row[0] + (row[1].isNaN ? 5 : row[1] * 3) + rng.nextUnit())
        }
        let (_, p) = try TestData.binnedRegression(values: values, targets: y, features: d)
        var params = ForestParameters()
        params.maxDepth = 6
        params.maxFeatures = .all
        let grower = TestData.regressionGrower(p, params)
        let counts = UnsafeMutablePointer<UInt32>.allocate(capacity: n)
        defer { counts.deallocate() }
        for seed in 0..<3 as Range<UInt64> {
            let tree = grower.grow(seed: seed)
            #expect(tree.outputWidth == 1 && tree.depth <= 6 && tree.leafCount > 20)
            _ = TreeGrower<RegressionObjective>.bootstrapCounts(seed: seed, rows: n, bootstrap: params.bootstrap, into: counts)
            var w = [Double](repeating: 0, count: tree.leafCount)
            var s = w
            p.bins.withUnsafeBufferPointer { bins in
                for r in 0..<n where counts[r] > 0 {
                    let leaf = tree.leaf(binned: bins, rowCount: n, row: r)
                    w[leaf] += Double(counts[r])
                    s[leaf] += Double(counts[r]) * y[r]
                }
            }
            for leaf in 0..<tree.leafCount {
                #expect(w[leaf] > 0, "leaf \(leaf) has no in-bag rows")
                let mean = s[leaf] / w[leaf]
                #expect(abs(Double(tree.leafValues[leaf]) - mean) <= 1e-6 * max(1, abs(mean)), "leaf \(leaf)")
            }
        }
    }

    /// The root's unsplit score is S²/W, and a split's score is never below it.
    @Test func rootScoreIsTheSquaredSumOverTheWeight() {
        for seed in 0..<50 as Range<UInt64> {
            let c = RandomCase(seed: seed + 7000, kinds: [false, true], regression: true)
            let grower = TestData.regressionGrower(c.partition, c.parameters())
            var w = 0.0
            var s = 0.0
            for r in 0..<c.partition.rowCount {
                w += Double(c.counts[r])
                s += Double(c.counts[r]) * c.partition.values[r]
            }
            #expect(TestData.close(grower.rootParentScore(counts: c.counts), s * s / w))
            let split = grower.bestRootSplit(counts: c.counts)
            if split.isValid { #expect(split.score >= s * s / w - 1e-9 * max(1, s * s / w)) }
        }
    }

    /// A regression forest predicts the average of its trees' leaves, whatever the thread count.
    @Test func forestPredictsTheAverageOfItsTrees() throws {
        var rng = ForestRNG(seed: 5)
        let n = 1500
        var values: [Double] = []
        var y: [Double] = []
        for _ in 0..<n {
            let x = rng.nextUnit() * 6
            values += [x, rng.nextUnit()]
            y.append(sin(x) * 3 + rng.nextUnit() * 0.1)
        }
        let (extractor, p) = try TestData.binnedRegression(values: values, targets: y, features: 2)
        var params = ForestParameters()
        params.trees = 9
        let trees = try ForestTrainer(parameters: params, threads: 2).trainTrees(partition: p, partitionIndex: 0, range: 0..<9)
        let forest = try RandomForest(task: .regression, trees: trees)
        let got = forest.predict(binned: p, threads: 2)
        #expect(got == forest.predict(binned: p, threads: 1))
        var expected = [Double](repeating: 0, count: n)
        p.bins.withUnsafeBufferPointer { bins in
            for r in 0..<n {
                for t in trees { expected[r] += Double(t.leafValues[t.leaf(binned: bins, rowCount: n, row: r)]) }
                expected[r] /= Double(trees.count)
            }
        }
        #expect(got == expected)
        var m = RegressionMetrics()
        m.add(predictions: got, actual: y)
        #expect(m.r2 > 0.95)
        // Through a model and the batch scorer (rows binned again): the same predictions.
        let model = try TestData.forestModel(extractor, forest, params)
        #expect(BatchScorer.predict(model, values: values, rows: n, threads: 2) == got)
        #expect(throws: ForestError.self) { try RandomForest(task: .regression, trees: []) }
    }
}

@Suite struct CategoricalPredictionTests {
    /// Trees with categorical level-set splits and learned missing directions: the packed
    /// scorer equals walking each tree node by node, and every node's decision is its level set.
    @Test func packedPredictionEqualsTheNodeWalkOnCategoricalTrees() throws {
        var rng = ForestRNG(seed: 12)
        let n = 2000
        let colors = ["red", "green", "blue", "navy, dark", "teal", "ochre"]
        var state = PartialExtractorState(featureNames: ["x", "color"], kinds: [.numeric, .categorical])
        var values: [Double] = []
        var labels: [Int32] = []
        var target = TargetSummary(task: .classification)
        for _ in 0..<n {
            let x = rng.nextUnit() < 0.1 ? Double.nan : rng.nextUnit()
            let k = rng.nextInt(below: colors.count + 1)
            let color: String? = k == colors.count ? nil : colors[k]
            let row = [x, color.map { LevelHash.of($0) } ?? .nan]
            row.withUnsafeBufferPointer { state.addNumeric($0) }
            state.addLevel(feature: 1, color)
            let positive = (k % 2 == 0) != (x.isNaN || x > 0.7)
            let label: Int32 = (rng.nextUnit() < 0.05) != positive ? 1 : 0
            target.add(label: String(label))
            values += row
            labels.append(label)
        }
        state.setTarget(target)
        let extractor = try FeatureExtractor.fit(from: state)
        #expect(extractor.levels[1].count == colors.count)
        #expect(extractor.bin(level: "purple", feature: 1) == FeatureExtractor.missingBin)
        let p = extractor.transform(rowMajor: values, labels: labels)
        var params = ForestParameters()
        params.trees = 6
        let forest = try TestData.forest(
            ForestTrainer(parameters: params, threads: 2).trainTrees(partition: p, partitionIndex: 0, range: 0..<6))
        var categoricalNodes = 0
        var missingLeftNodes = 0
        for t in forest.trees {
            for i in 0..<t.nodeCount where t.feature(i) >= 0 {
                if t.flags(i) & Tree.categoricalSplit != 0 {
                    categoricalNodes += 1
                    #expect(t.feature(i) == 1)
                    let set = Set(t.levelSet(node: i))
                    for b in 0..<256 { #expect(t.goesLeft(node: i, bin: UInt8(b)) == set.contains(b)) }
                } else {
                    #expect(t.feature(i) == 0)
                }
                if t.goesLeft(node: i, bin: FeatureExtractor.missingBin) { missingLeftNodes += 1 }
            }
        }
        #expect(categoricalNodes > 0 && missingLeftNodes > 0)
        let C = 2
        var expected = [Double](repeating: 0, count: n * C)
        p.bins.withUnsafeBufferPointer { bins in
            for r in 0..<n {
                for t in forest.trees {
                    let leaf = t.leaf(binned: bins, rowCount: n, row: r)
                    for c in 0..<C { expected[r * C + c] += Double(t.leafValues[leaf * C + c]) }
                }
                for c in 0..<C { expected[r * C + c] /= Double(forest.trees.count) }
            }
        }
        #expect(forest.predict(binned: p, threads: 1) == expected)
        #expect(forest.predict(binned: p, threads: 2) == expected)
        var m = MetricsAggregate(classCount: 2)
        m.add(probabilities: expected, labels: p.labels)
        #expect(m.accuracy > 0.9)
        // Round trip through the model file format.
        let model = try TestData.forestModel(extractor, forest, params)
        let again = try ForestModel(deserializing: model.serialize())
        #expect(again == model && again.fingerprint == model.fingerprint)
        #expect(again.forest.predict(binned: p) == expected)
    }
}
