import Testing

@testable import Forest

/// Nodes of at most ``SubsetSplitScan/maxEntries`` entries, scanned by subsets, against the
/// exhaustive reference and against the histogram scan of the same node.
@Suite struct SubsetSplitScanTests {
    /// A random regression case whose in-bag entries are `entries` of its rows.
    static func smallCase(seed: UInt64, entries: Int, kinds: [Bool], minCategoryRows: Int = 1) -> RandomCase {
        var c = RandomCase(seed: seed, kinds: kinds, regression: true, maxLevels: 10, missingRate: 0.3)
        c.minCategoryRows = minCategoryRows
        var rng = ForestRNG(seed: seed &+ 99)
        let n = c.partition.rowCount
        var keep = Set<Int>()
        while keep.count < min(entries, n) { keep.insert(rng.nextInt(below: n)) }
        c.counts = (0..<n).map { keep.contains($0) ? UInt32(1 + rng.nextInt(below: 3)) : 0 }
        return c
    }

    static func rootSplit(_ c: RandomCase, subsets: Bool, maxFeatures: MaxFeatures = .all, seed: UInt64 = 1) -> SplitCandidate {
        var params = c.parameters()
        params.maxFeatures = maxFeatures
        let grower = TestData.regressionGrower(c.partition, params)
        grower.subsetScanEnabled = subsets
        return grower.bestRootSplit(counts: c.counts, seed: seed)
    }

    /// Numeric features with missing values: the best threshold and side of all, with its rows.
    @Test(arguments: 2...SubsetSplitScan.maxEntries)
    func numericMatchesBruteForce(entries: Int) {
        for seed in 0..<150 as Range<UInt64> {
            let c = Self.smallCase(seed: seed * 31 + UInt64(entries), entries: entries, kinds: [false, false, false])
            let split = Self.rootSplit(c, subsets: true)
            BruteForceSplit.check(
                c.partition, counts: c.counts, split: split, objective: .regression, minLeaf: c.minLeaf,
                "\(entries) entries, seed \(seed)")
        }
    }

    /// The same split as the histogram scan of the same draw, which scans every drawn feature
    /// (the subset scan stops at the table's highest score): feature, threshold, missing
    /// side and rows; the scores agree to rounding, so where two features tie the two scans
    /// may pick different ones. With all features and with two of four sampled per node.
    @Test(arguments: 2...SubsetSplitScan.maxEntries, [MaxFeatures.all, .count(2)])
    func agreesWithTheHistogramScan(entries: Int, maxFeatures: MaxFeatures) {
        var compared = 0
        for seed in 0..<150 as Range<UInt64> {
            let c = Self.smallCase(
                seed: seed * 17 + UInt64(entries) + 7000, entries: entries, kinds: [false, true, false, false],
                minCategoryRows: 10)
            let bySubsets = Self.rootSplit(c, subsets: true, maxFeatures: maxFeatures, seed: seed)
            let byHistograms = Self.rootSplit(c, subsets: false, maxFeatures: maxFeatures, seed: seed)
            #expect(bySubsets.isValid == byHistograms.isValid, "seed \(seed)")
            guard bySubsets.isValid, byHistograms.isValid else { continue }
            #expect(TestData.close(bySubsets.score, byHistograms.score), "seed \(seed)")
            if bySubsets.feature == byHistograms.feature {
                #expect(bySubsets.categorical == byHistograms.categorical, "seed \(seed)")
                #expect(bySubsets.leftSet == byHistograms.leftSet, "seed \(seed)")
                #expect(bySubsets.bin == byHistograms.bin, "seed \(seed)")
                #expect(bySubsets.missingLeft == byHistograms.missingLeft, "seed \(seed)")
                #expect(bySubsets.leftRows == byHistograms.leftRows, "seed \(seed)")
                compared += 1
            }
        }
        // Most cases pick the same feature (with two entries and three numeric features, ties are common).
        #expect(compared >= 40)
    }

    /// A node whose entries share every bin has no split, though their targets differ.
    @Test func identicalEntriesDoNotSplit() throws {
        let bins: [UInt8] = [3, 3, 3, 1, 1, 1]
        let p = BinnedPartition(
            rowCount: 3, featureCount: 2, classCount: 0, bins: bins, target: .values([1, 2, 3]), valueBins: [4, 2],
            categorical: [false, false])
        var params = ForestParameters()
        params.maxFeatures = .all
        let split = TestData.regressionGrower(p, params).bestRootSplit(counts: [1, 2, 1])
        #expect(!split.isValid)
    }
}
