/// Split finding in nodes of at most ``maxEntries`` in-bag entries, without histograms.
///
/// A split of such a node sends a subset of its entries left, and every feature's
/// thresholds only choose among those subsets. The objective scores all `2^e` subsets
/// once per node (``SplitObjective/fillSubsetScores(weights:pay:count:rows:minLeaf:scores:leftRows:)``);
/// per feature the scan sorts the entries' bins (a sorting network on packed
/// `bin << 3 | entry` keys) and looks each threshold's left subset up. Histogram
/// building and scanning cost a fixed amount per feature that dominates small nodes
/// (clearing and walking a 256-bit occupancy mask, loop exits that depend on the data, a
/// division per threshold); this scan has a trip count fixed per node and chooses with
/// selects, so the features' bin loads overlap.
///
/// Candidates are offered in the histogram scan's order (thresholds ascending; at each,
/// missing values right before missing values left) with the same strict improvement.
/// The grower takes this path only where no categorical level has enough rows to be
/// ordered (``SplitObjective/minLevelRows``), so a categorical feature's only candidate is
/// the one the histogram scan also has then: a single level present, left, against the
/// missing values.
final class SubsetSplitScan {
    /// Largest node, in entries, scanned by subsets (a table of `2^maxEntries` scores).
    static let maxEntries = 8

    /// The current node's subset scores and rows, filled by the objective.
    let scores: UnsafeMutablePointer<Double>
    let leftRows: UnsafeMutablePointer<Int32>
    private let keys: UnsafeMutablePointer<UInt16>

    init() {
        let size = 1 << Self.maxEntries
        scores = .allocate(capacity: size)
        scores.initialize(repeating: -.infinity, count: size)
        leftRows = .allocate(capacity: size)
        leftRows.initialize(repeating: 0, count: size)
        keys = .allocate(capacity: Self.maxEntries)
        keys.initialize(repeating: 0, count: Self.maxEntries)
    }

    deinit {
        scores.deallocate()
        leftRows.deallocate()
        keys.deallocate()
    }

    /// Scans feature `feature` over entries `idx[0..<count]` (2...``maxEntries``), whose
    /// bins are at `column[row * stride]`, against the node's table. Returns false when the
    /// feature is constant in the node.
    @inline(__always)
    func scan(
        feature: Int, categorical: Bool, column: UnsafePointer<UInt8>, stride: Int, idx: UnsafePointer<Int32>,
        count e: Int, best: inout SplitCandidate
    ) -> Bool {
        let pad: UInt16 = 0xFFFF
        @inline(__always) func key(_ j: Int) -> UInt16 {
            UInt16(column[Int(idx[j]) &* stride]) << 3 | UInt16(j)
        }
        @inline(__always) func exchange(_ a: inout UInt16, _ b: inout UInt16) {
            let lo = min(a, b)
            b = max(a, b)
            a = lo
        }
        var k0 = key(0)
        var k1 = key(1)
        var k2 = e > 2 ? key(2) : pad
        var k3 = e > 3 ? key(3) : pad
        var k4 = e > 4 ? key(4) : pad
        var k5 = e > 5 ? key(5) : pad
        var k6 = e > 6 ? key(6) : pad
        var k7 = e > 7 ? key(7) : pad
        if e == 2 {
            exchange(&k0, &k1)
        } else if e <= 4 {
            exchange(&k0, &k1)
            exchange(&k2, &k3)
            exchange(&k0, &k2)
            exchange(&k1, &k3)
            exchange(&k1, &k2)
        } else {
            // Batcher's odd-even merge sort for 8 inputs (19 comparators).
            exchange(&k0, &k1)
            exchange(&k2, &k3)
            exchange(&k4, &k5)
            exchange(&k6, &k7)
            exchange(&k0, &k2)
            exchange(&k1, &k3)
            exchange(&k4, &k6)
            exchange(&k5, &k7)
            exchange(&k1, &k2)
            exchange(&k5, &k6)
            exchange(&k0, &k4)
            exchange(&k1, &k5)
            exchange(&k2, &k6)
            exchange(&k3, &k7)
            exchange(&k2, &k4)
            exchange(&k3, &k5)
            exchange(&k1, &k2)
            exchange(&k3, &k4)
            exchange(&k5, &k6)
        }
        keys[0] = k0
        keys[1] = k1
        keys[2] = k2
        keys[3] = k3
        keys[4] = k4
        keys[5] = k5
        keys[6] = k6
        keys[7] = k7
        let missingBin = UInt16(FeatureExtractor.missingBin)
        let varies = keys[0] >> 3 != keys[e - 1] >> 3
        // Entries with missing values sort last.
        var missing = 0
        for t in 0..<e {
            let kt = Int(keys[t])
            missing |= (kt >> 3 == Int(missingBin) ? 1 : 0) << (kt & 7)
        }
        if categorical {
            if varies && missing != 0 {
                offerPresentAgainstMissing(feature: feature, count: e, missing: missing, best: &best)
            }
            return varies
        }
        var bestScore = best.score
        var bestFeature = best.feature
        var bestBin = best.bin
        var bestMissingLeft = best.missingLeft
        var bestMask = -1
        var left = 0
        for t in 0..<(e - 1) {
            let kt = keys[t]
            let bin = kt >> 3
            left |= 1 << Int(kt & 7)
            let boundary = varies && bin != keys[t + 1] >> 3
            let a = boundary ? scores[left] : -.infinity
            if a > bestScore {
                bestScore = a
                bestFeature = feature
                bestBin = Int(bin)
                bestMissingLeft = false
                bestMask = left
            }
            let withMissing = left | missing
            let b = boundary && missing != 0 ? scores[withMissing] : -.infinity
            if b > bestScore {
                bestScore = b
                bestFeature = feature
                bestBin = Int(bin)
                bestMissingLeft = true
                bestMask = withMissing
            }
        }
        if bestMask >= 0 {
            best.setThreshold(
                feature: bestFeature, bin: bestBin, missingLeft: bestMissingLeft, score: bestScore,
                leftRows: Int(leftRows[bestMask]))
        }
        return varies
    }

    /// A categorical feature whose present entries (sorted in `keys`) all hold one level,
    /// the rest missing: that level left, missing right.
    private func offerPresentAgainstMissing(feature: Int, count e: Int, missing: Int, best: inout SplitCandidate) {
        let present = ((1 << e) - 1) & ~missing
        let level = keys[0] >> 3
        guard keys[present.nonzeroBitCount - 1] >> 3 == level else { return }
        let score = scores[present]
        guard score > best.score else { return }
        var levels = Int32(level)
        best.feature = feature
        best.score = score
        best.leftRows = Int(leftRows[present])
        best.missingLeft = false
        best.categorical = true
        best.bin = -1
        best.leftSet = HistogramScan.levelSet(&levels, count: 1, missingLeft: false)
    }
}
