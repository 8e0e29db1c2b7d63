/// Regression for the tree learner (ranger's `TreeRegression`, scikit-learn's
/// `squared_error`): the payload is the target's bits; a histogram cell is two words,
/// `(rows << 32) | bootstrap count` and the `Double` bits of `Σ count · y`; splits
/// maximise `S_L²/W_L + S_R²/W_R` (the weighted squared-error reduction plus a constant);
/// leaves hold the weighted mean. Categorical splits order the node's levels by their
/// mean target, which is optimal for squared error (Fisher 1958).
struct RegressionObjective: SplitObjective {
    private let targets: [Double]
    private var totalW = 0.0, totalS = 0.0
    private var minY = 0.0, maxY = 0.0
    private let buffers = ScanScratch(words: 0)
    private var order: UnsafeMutablePointer<Int32> { buffers.order }
    private var keys: UnsafeMutablePointer<Double> { buffers.keys }
    private var scratch: UnsafeMutablePointer<Int32> { buffers.sparse }
    /// Rows a categorical level needs in a node to be ordered and sent left (``HistogramScan/moveSparseLevels``).
    let minLevelRows: Int

    init(partition: BinnedPartition, parameters: ForestParameters) {
        targets = partition.values
        minLevelRows = parameters.minCategoryRows
    }

    var cellWords: Int { 2 }
    var outputWidth: Int { 1 }
    var exactSubtraction: Bool { false }

    @inline(__always)
    func payload(row: Int) -> UInt64 { targets[row].bitPattern }

    @inline(__always)
    func accumulate(
        groupCount g: Int, columns: UnsafePointer<UnsafePointer<UInt8>>, rowStride: Int, idx: UnsafePointer<Int32>,
        weights: UnsafePointer<UInt64>, pay: UnsafePointer<UInt64>, start: Int, end: Int,
        hist: UnsafeMutablePointer<UInt64>, mask: UnsafeMutablePointer<UInt64>
    ) {
        for j in 0..<(4 * g) { mask[j] = 0 }
        if end - start >= HistogramScan.maskFromCellsMinEntries {
            for k in start..<end {
                let r = Int(idx[k]) &* rowStride
                let add = weights[k]
                let wy = Double(add & 0xFFFF_FFFF) * Double(bitPattern: pay[k])
                for j in 0..<g {
                    let cell = hist + (j &* 512 &+ Int(columns[j][r]) &<< 1)
                    cell[0] &+= add
                    cell[1] = (Double(bitPattern: cell[1]) + wy).bitPattern
                }
            }
            HistogramScan.occupancy(of: hist, features: g, cellWords: 2, into: mask)
            return
        }
        for k in start..<end {
            let r = Int(idx[k]) &* rowStride
            let add = weights[k]
            let wy = Double(add & 0xFFFF_FFFF) * Double(bitPattern: pay[k])
            for j in 0..<g {
                let b = Int(columns[j][r])
                let cell = hist + (j &* 512 &+ b &<< 1)
                cell[0] &+= add
                cell[1] = (Double(bitPattern: cell[1]) + wy).bitPattern
                mask[j &* 4 &+ (b &>> 6)] |= 1 &<< UInt64(b & 63)
            }
        }
    }

    /// ``scan(feature:categorical:hist:mask:rows:minLeaf:reset:best:)`` of a numeric
    /// feature: the occupied bins are walked straight from the
    /// mask, a threshold after the last value bin is ruled out by its empty right side (the
    /// weights are integers, so the difference is exactly zero), and the feature's best
    /// candidate is kept with selects and compared with `best` once.
    @inline(__always)
    private func scanThresholds(
        feature: Int, hist: UnsafeMutablePointer<UInt64>, mask: UnsafePointer<UInt64>, rows: Int, minLeaf: Int,
        reset: Bool, best: inout SplitCandidate
    ) -> Bool {
        let miss = Int(FeatureExtractor.missingBin)
        let hasMissing = mask[3] >> 63 != 0
        let missingCell = hist + 2 * miss
        let missingRows = hasMissing ? Int(missingCell[0] >> 32) : 0
        let missingW = hasMissing ? Double(missingCell[0] & 0xFFFF_FFFF) : 0
        let missingS = hasMissing ? Double(bitPattern: missingCell[1]) : 0
        if hasMissing && reset {
            missingCell[0] = 0
            missingCell[1] = 0
        }
        let totalW = totalW
        let totalS = totalS
        var occupied = hasMissing ? 1 : 0
        var leftRows = 0
        var lw = 0.0
        var ls = 0.0
        var top = best.score
        var topBin = -1
        var topMissingLeft = false
        var topRows = 0
        @inline(__always) func offer(_ lw: Double, _ ls: Double, _ l: Int, bin: Int, missingLeft: Bool) {
            let rw = totalW - lw
            let rs = totalS - ls
            let valid = rw > 0 && l >= minLeaf && rows - l >= minLeaf
            let score = valid ? ls * ls / lw + rs * rs / rw : -.infinity
            let better = score > top
            top = better ? score : top
            topBin = better ? bin : topBin
            topMissingLeft = better ? missingLeft : topMissingLeft
            topRows = better ? l : topRows
        }
        for w in 0..<4 {
            var bits = w == 3 ? mask[3] & ~(1 << 63) : mask[w]
            while bits != 0 {
                let b = w << 6 | bits.trailingZeroBitCount
                bits &= bits &- 1
                occupied += 1
                let cell = hist + 2 * b
                leftRows += Int(cell[0] >> 32)
                lw += Double(cell[0] & 0xFFFF_FFFF)
                ls += Double(bitPattern: cell[1])
                if reset {
                    cell[0] = 0
                    cell[1] = 0
                }
                offer(lw, ls, leftRows, bin: b, missingLeft: false)
                if hasMissing { offer(lw + missingW, ls + missingS, leftRows + missingRows, bin: b, missingLeft: true) }
            }
        }
        if topBin >= 0 {
            best.setThreshold(feature: feature, bin: topBin, missingLeft: topMissingLeft, score: top, leftRows: topRows)
        }
        return occupied >= 2
    }

    /// Totals: weight, weighted sum, minimum and maximum target, as `Double` bits.
    var totalsWords: Int { 4 }

    @inline(__always)
    func sumTotals(weights: UnsafePointer<UInt64>, pay: UnsafePointer<UInt64>, start: Int, end: Int, into t: UnsafeMutablePointer<UInt64>) {
        var w = 0.0
        var s = 0.0
        var lo = Double.infinity
        var hi = -Double.infinity
        for k in start..<end {
            let y = Double(bitPattern: pay[k])
            let c = Double(weights[k] & 0xFFFF_FFFF)
            w += c
            s += c * y
            lo = min(lo, y)
            hi = max(hi, y)
        }
        t[0] = w.bitPattern
        t[1] = s.bitPattern
        t[2] = lo.bitPattern
        t[3] = hi.bitPattern
    }

    mutating func beginNode(totals t: UnsafePointer<UInt64>) -> Bool {
        totalW = Double(bitPattern: t[0])
        totalS = Double(bitPattern: t[1])
        minY = Double(bitPattern: t[2])
        maxY = Double(bitPattern: t[3])
        return maxY > minY
    }

    func parentScore() -> Double { totalW > 0 ? totalS * totalS / totalW : 0 }

    var scoresSubsets: Bool { true }

    func fillSubsetScores(
        weights: UnsafePointer<UInt64>, pay: UnsafePointer<UInt64>, count e: Int, rows: Int, minLeaf: Int,
        scores: UnsafeMutablePointer<Double>, leftRows: UnsafeMutablePointer<Int32>
    ) -> Double {
        // Subset sums built from the subset without its lowest entry; `scores` holds Σ
        // count · y until each complementary pair is scored, `keys` Σ count.
        let sumW = keys
        let full = (1 << e) - 1
        sumW[0] = 0
        scores[0] = 0
        leftRows[0] = 0
        for mask in 1...full {
            let j = mask.trailingZeroBitCount
            let rest = mask & (mask &- 1)
            let c = weights[j] & 0xFFFF_FFFF
            sumW[mask] = sumW[rest] + Double(c)
            scores[mask] = scores[rest] + Double(c) * Double(bitPattern: pay[j])
            leftRows[mask] = leftRows[rest] &+ Int32(truncatingIfNeeded: weights[j] >> 32)
        }
        scores[0] = -.infinity
        scores[full] = -.infinity
        var highest = -Double.infinity
        guard e > 1 else { return highest }
        for mask in 1..<(1 << (e - 1)) {
            let other = full ^ mask
            let l = Int(leftRows[mask])
            var score = -Double.infinity
            if l >= minLeaf && rows - l >= minLeaf {
                let ls = scores[mask]
                let rs = scores[other]
                score = ls * ls / sumW[mask] + rs * rs / sumW[other]
            }
            scores[mask] = score
            scores[other] = score
            highest = max(highest, score)
        }
        return highest
    }

    func appendLeaf(to values: inout [Float]) {
        values.append(totalW > 0 ? Float(totalS / totalW) : 0)
    }

    mutating func scan(
        feature: Int, categorical: Bool, hist: UnsafeMutablePointer<UInt64>, mask: UnsafePointer<UInt64>,
        rows: Int, minLeaf: Int, reset: Bool, best: inout SplitCandidate
    ) -> Bool {
        if !categorical {
            return scanThresholds(feature: feature, hist: hist, mask: mask, rows: rows, minLeaf: minLeaf, reset: reset, best: &best)
        }
        let m = HistogramScan.occupiedValueBins(mask, into: order)
        let miss = Int(FeatureExtractor.missingBin)
        let hasMissing = mask[3] >> 63 != 0
        let missingRows = hasMissing ? Int(hist[2 * miss] >> 32) : 0
        let missingW = hasMissing ? Double(hist[2 * miss] & 0xFFFF_FFFF) : 0
        let missingS = hasMissing ? Double(bitPattern: hist[2 * miss + 1]) : 0
        defer {
            if reset {
                for i in 0..<m {
                    let b = Int(order[i])
                    hist[2 * b] = 0
                    hist[2 * b + 1] = 0
                }
                if hasMissing {
                    hist[2 * miss] = 0
                    hist[2 * miss + 1] = 0
                }
            }
        }
        if m + (hasMissing ? 1 : 0) < 2 { return false }
        // Split positions: after order[k] for k < splits (dense levels only).
        var splits = m
        if m > 1 {
            splits = HistogramScan.moveSparseLevels(order, count: m, minRows: minLevelRows, scratch: scratch) { Int(hist[2 * $0] >> 32) }
            for i in 0..<m {
                let b = Int(order[i])
                let w = Double(hist[2 * b] & 0xFFFF_FFFF)
                keys[b] = w > 0 ? Double(bitPattern: hist[2 * b + 1]) / w : 0
            }
            HistogramScan.sortByKey(order, count: splits, keys: keys)
        }
        @inline(__always) func score(_ lw: Double, _ ls: Double) -> Double {
            let rw = totalW - lw
            let rs = totalS - ls
            guard lw > 0, rw > 0 else { return -.infinity }
            return ls * ls / lw + rs * rs / rw
        }
        var leftRows = 0
        var lw = 0.0
        var ls = 0.0
        for k in 0..<m {
            let b = Int(order[k])
            leftRows += Int(hist[2 * b] >> 32)
            lw += Double(hist[2 * b] & 0xFFFF_FFFF)
            ls += Double(bitPattern: hist[2 * b + 1])
            if k >= splits { break }
            if k < m - 1 || hasMissing {
                if leftRows >= minLeaf && rows - leftRows >= minLeaf {
                    HistogramScan.consider(
                        score(lw, ls), feature: feature, categorical: categorical, order: order, k: k,
                        missingLeft: false, leftRows: leftRows, best: &best)
                }
            }
            if hasMissing && k < m - 1 {
                let l = leftRows + missingRows
                if l >= minLeaf && rows - l >= minLeaf {
                    HistogramScan.consider(
                        score(lw + missingW, ls + missingS), feature: feature, categorical: categorical,
                        order: order, k: k, missingLeft: true, leftRows: l, best: &best)
                }
            }
        }
        return true
    }
}
