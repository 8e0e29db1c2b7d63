import Foundation
import Testing

@testable import Forest

/// The histogram split finder against an exhaustive reference.
@Suite struct SplitFindingTests {
    /// Weighted child impurity of the best split by brute force over every feature and
    /// every boundary between distinct bins: (impurity, feature, bin).
    static func bruteForce(_ p: BinnedPartition, counts: [UInt32], criterion: SplitCriterion, minLeaf: Int)
        -> (impurity: Double, feature: Int, bin: Int)?
    {
        var best: (Double, Int, Int)? = nil
        func impurity(_ w: [Double]) -> Double {
            let total = w.reduce(0, +)
            guard total > 0 else { return 0 }
            switch criterion {
            case .gini: return total * (1 - w.reduce(0) { $0 + ($1 / total) * ($1 / total) })
            case .entropy: return -total * w.reduce(0) { $0 + ($1 > 0 ? ($1 / total) * Foundation_log($1 / total) : 0) }
            }
        }
        for f in 0..<p.featureCount {
            let bins = Set((0..<p.rowCount).filter { counts[$0] > 0 }.map { p.bins[f * p.rowCount + $0] }).sorted()
            for b in bins.dropLast() {
                var l = [Double](repeating: 0, count: p.classCount)
                var r = l
                var nl = 0
                var nr = 0
                for row in 0..<p.rowCount where counts[row] > 0 {
                    if p.bins[f * p.rowCount + row] <= b {
                        l[Int(p.labels[row])] += Double(counts[row])
                        nl += 1
                    } else {
                        r[Int(p.labels[row])] += Double(counts[row])
                        nr += 1
                    }
                }
                guard nl >= minLeaf, nr >= minLeaf else { continue }
                let imp = impurity(l) + impurity(r)
                if best == nil || imp < best!.0 - 1e-12 { best = (imp, f, Int(b)) }
            }
        }
        return best
    }

    @Test(arguments: [(24, 2, SplitCriterion.gini), (200, 2, .gini), (24, 3, .gini), (150, 3, .entropy), (30, 2, .entropy), (300, 4, .gini)]
    )
    func matchesBruteForce(rows: Int, classes: Int, criterion: SplitCriterion) throws {
        for seed in 0..<5 as Range<UInt64> {
            var rng = ForestRNG(seed: seed + UInt64(rows * 31 + classes))
            let d = 4
            let values = (0..<(rows * d)).map { _ in (rng.nextUnit() * 40).rounded() / 4 }  // ties on purpose
            let labels = (0..<rows).map { _ in Int32(rng.nextInt(below: classes)) }
            let (_, p) = try TestData.binned(values: values, labels: labels, features: d, maxBins: 16)
            var params = ForestParameters()
            params.maxFeatures = .all
            params.criterion = criterion
            params.minSamplesLeaf = seed % 2 == 0 ? 1 : 3
            let counts = (0..<rows).map { _ in UInt32(rng.nextInt(below: 3)) }
            let grower = TestData.grower(p, params)
            let split = grower.bestRootSplit(counts: counts)
            let reference = Self.bruteForce(p, counts: counts, criterion: criterion, minLeaf: params.minSamplesLeaf)
            guard let reference else {
                #expect(!split.isValid)
                continue
            }
            #expect(split.isValid)
            let w = counts.enumerated().reduce(0.0) { $0 + Double($1.element) }
            let impurity = criterion == .gini ? w - split.score : -split.score
            #expect(abs(impurity - reference.impurity) < 1e-9, "seed \(seed): impurity \(impurity) vs \(reference.impurity)")
            // The same partition of rows (different bins can only tie if they induce the same split).
            let refLeft = (0..<rows).filter { counts[$0] > 0 && p.bins[reference.feature * rows + $0] <= UInt8(reference.bin) }
            let ourLeft = (0..<rows).filter { counts[$0] > 0 && p.bins[split.feature * rows + $0] <= UInt8(split.bin) }
            if split.feature == reference.feature {
                #expect(split.bin == reference.bin)
            } else {
                #expect(abs(impurity - reference.impurity) < 1e-9 && (refLeft.count > 0) == (ourLeft.count > 0))
            }
        }
    }
}

func Foundation_log(_ x: Double) -> Double { Foundation.log(x) }
