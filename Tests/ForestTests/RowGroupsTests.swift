import Testing

@testable import Forest

/// Merging identical rows into weighted groups (``RowGroups``) must not change what the
/// tree learner sees.
@Suite struct RowGroupsTests {
    /// A partition with many duplicate rows: `d` features with few bins (some categorical,
    /// some missing), a noisy target that depends on them.
    static func duplicated(rows n: Int, features d: Int, classes: Int, regression: Bool = false, seed: UInt64) -> BinnedPartition {
        var rng = ForestRNG(seed: seed)
        let levels = (0..<d).map { _ in 2 + rng.nextInt(below: 2) }
        let categorical = (0..<d).map { f in f % 3 == 2 }
        var bins = [UInt8](repeating: 0, count: n * d)
        var labels: [Int32] = []
        var values: [Double] = []
        for r in 0..<n {
            var signal = 0
            for f in 0..<d {
                let b = rng.nextInt(below: 20) == 0 ? Int(FeatureExtractor.missingBin) : rng.nextInt(below: levels[f])
                bins[f * n + r] = UInt8(b)
                signal += b == Int(FeatureExtractor.missingBin) ? 1 : b * (f + 1)
            }
            if regression {
                values.append(Double(signal % 7) + (rng.nextInt(below: 4) == 0 ? 0.5 : 0))
            } else {
                labels.append(Int32((signal + rng.nextInt(below: 3)) % classes))
            }
        }
        return BinnedPartition(
            rowCount: n, featureCount: d, classCount: regression ? 0 : classes, bins: bins,
            target: regression ? .values(values) : .classes(labels), valueBins: levels, categorical: categorical)
    }

    /// A grower over rows and one over the partition's groups (which must exist).
    static func growers<O: SplitObjective>(
        _ p: BinnedPartition, _ params: ForestParameters,
        objective: () -> O
    ) throws -> (TreeGrower<O>, TreeGrower<O>) {
        let groups = try #require(TreeGrower.findGroups(partition: p, objective: objective()))
        return (
            TreeGrower(partition: p, parameters: params, objective: objective()),
            TreeGrower(partition: p, parameters: params, objective: objective(), groups: groups)
        )
    }

    @Test func groupsHoldIdenticalRowsOnly() throws {
        let p = Self.duplicated(rows: 3000, features: 4, classes: 3, seed: 1)
        let objective = ClassificationObjective(partition: p, parameters: ForestParameters())
        let groups = try #require(TreeGrower.findGroups(partition: p, objective: objective))
        #expect(groups.count < 3000)
        let labels = p.labels
        var seen = Set<[UInt8]>()
        for (g, rep) in groups.representative.enumerated() {
            let r = Int(rep)
            #expect(groups.groupOf[r] == Int32(g))
            if g > 0 { #expect(rep > groups.representative[g - 1]) }
            let key = (0..<4).map { p.bins[$0 * 3000 + r] } + [UInt8(labels[r])]
            #expect(seen.insert(key).inserted)
        }
        for r in 0..<3000 {
            let rep = Int(groups.representative[Int(groups.groupOf[r])])
            #expect(rep <= r)
            #expect(labels[rep] == labels[r])
            for f in 0..<4 { #expect(p.bins[f * 3000 + rep] == p.bins[f * 3000 + r]) }
        }
    }

    @Test func distinctRowsAreNotGrouped() throws {
        let n = 4000
        let bins = (0..<n).map { UInt8($0 % 250) } + (0..<n).map { UInt8($0 / 250) }
        let p = BinnedPartition(
            rowCount: n, featureCount: 2, classCount: 2, bins: bins,
            target: .classes((0..<n).map { Int32($0 % 2) }), valueBins: [250, 16], categorical: [false, false])
        #expect(
            TreeGrower.findGroups(partition: p, objective: ClassificationObjective(partition: p, parameters: ForestParameters())) == nil)
    }

    @Test(arguments: [2, 4])
    func classificationTreesAreBitIdenticalGroupedOrNot(classes: Int) throws {
        let p = Self.duplicated(rows: 8000, features: 6, classes: classes, seed: UInt64(classes))
        for (maxFeatures, minLeaf) in [(MaxFeatures.all, 1), (.sqrt, 1), (.all, 5), (.sqrt, 3)] {
            var params = ForestParameters()
            params.maxFeatures = maxFeatures
            params.minSamplesLeaf = minLeaf
            params.minSamplesSplit = 4
            let (plain, grouped) = try Self.growers(p, params) { ClassificationObjective(partition: p, parameters: params) }
            for seed in 1...4 as ClosedRange<UInt64> {
                #expect(plain.grow(seed: seed) == grouped.grow(seed: seed))
            }
        }
    }

    @Test func regressionTreesPredictTheSameGroupedOrNot() throws {
        let p = Self.duplicated(rows: 4000, features: 5, classes: 0, regression: true, seed: 9)
        var params = ForestParameters()
        params.maxFeatures = .all
        let (plain, grouped) = try Self.growers(p, params) { RegressionObjective(partition: p, parameters: params) }
        for seed in 1...3 as ClosedRange<UInt64> {
            let a = try RandomForest(task: .regression, trees: [plain.grow(seed: seed)])
            let b = try RandomForest(task: .regression, trees: [grouped.grow(seed: seed)])
            let pa = a.predict(binned: p)
            let pb = b.predict(binned: p)
            var differing = 0
            for i in pa.indices where abs(pa[i] - pb[i]) > 1e-6 { differing += 1 }
            // Sums of count · y may round differently and break a tie the other way; rarely.
            #expect(differing <= pa.count / 100)
        }
    }
}
