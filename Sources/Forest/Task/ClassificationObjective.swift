import Foundation

/// Classification for the tree learner: the payload is the class index; a histogram cell
/// is one packed word per class, `(rows << 32) | bootstrap count`, so rows and weights
/// add in one instruction and subtract exactly; splits maximise Gini's
/// `Σ L²/|L| + Σ R²/|R|` or the entropy equivalent over class-weighted counts; leaves
/// hold the weighted class shares.
///
/// Categorical splits order the node's levels by the class-weighted share of class 1
/// (binary: Fisher's ordering, optimal for Gini and entropy, Breiman et al. 1984) or,
/// with more classes, of the node's most frequent class, and scan that order.
struct ClassificationObjective: SplitObjective {
    let classes: Int
    let criterion: SplitCriterion
    let classWeight: [Double]
    private let labels: [Int32]
    private let buffers: ScanScratch
    /// The node's per-class bootstrap counts, the scan's left counts and the missing bin's.
    private var total: UnsafeMutablePointer<UInt64> { buffers.total }
    private var left: UnsafeMutablePointer<UInt64> { buffers.left }
    private var missing: UnsafeMutablePointer<UInt64> { buffers.missing }
    private var order: UnsafeMutablePointer<Int32> { buffers.order }
    private var keys: UnsafeMutablePointer<Double> { buffers.keys }
    private var scratch: UnsafeMutablePointer<Int32> { buffers.sparse }
    /// Rows a categorical level needs in a node to be ordered and sent left (``HistogramScan/moveSparseLevels``).
    let minLevelRows: Int
    private var majority = 0

    init(partition: BinnedPartition, parameters: ForestParameters) {
        classes = partition.classCount
        criterion = parameters.criterion
        labels = partition.labels
        var cw = [Double](repeating: 1, count: classes)
        if parameters.classWeighting == .balanced {
            let counts = partition.classCounts
            for c in 0..<classes where counts[c] > 0 {
                cw[c] = Double(partition.rowCount) / (Double(classes) * Double(counts[c]))
            }
        }
        classWeight = cw
        buffers = ScanScratch(words: classes)
        minLevelRows = parameters.minCategoryRows
    }

    var cellWords: Int { classes }
    var outputWidth: Int { classes }
    var exactSubtraction: Bool { true }

    @inline(__always)
    func payload(row: Int) -> UInt64 { UInt64(UInt32(bitPattern: labels[row])) }

    @inline(__always)
    func accumulate(
        groupCount g: Int, columns: UnsafePointer<UnsafePointer<UInt8>>, rowStride: Int, idx: UnsafePointer<Int32>,
        weights: UnsafePointer<UInt64>, pay: UnsafePointer<UInt64>, start: Int, end: Int,
        hist: UnsafeMutablePointer<UInt64>, mask: UnsafeMutablePointer<UInt64>
    ) {
        let C = classes
        let stride = 256 * C
        for j in 0..<(4 * g) { mask[j] = 0 }
        if C == 2 {
            for k in start..<end {
                let r = Int(idx[k]) &* rowStride
                let l = Int(pay[k])
                let add = weights[k]
                for j in 0..<g {
                    let b = Int(columns[j][r])
                    hist[j &* 512 &+ (b &<< 1 | l)] &+= add
                    mask[j &* 4 &+ (b &>> 6)] |= 1 &<< UInt64(b & 63)
                }
            }
        } else {
            for k in start..<end {
                let r = Int(idx[k]) &* rowStride
                let l = Int(pay[k])
                let add = weights[k]
                for j in 0..<g {
                    let b = Int(columns[j][r])
                    hist[j &* stride &+ b &* C &+ l] &+= add
                    mask[j &* 4 &+ (b &>> 6)] |= 1 &<< UInt64(b & 63)
                }
            }
        }
    }

    var totalsWords: Int { classes }

    @inline(__always)
    func sumTotals(weights: UnsafePointer<UInt64>, pay: UnsafePointer<UInt64>, start: Int, end: Int, into t: UnsafeMutablePointer<UInt64>) {
        if classes == 2 {
            // In registers: no store-to-load chain through the counters.
            var all: UInt64 = 0
            var ones: UInt64 = 0
            for k in start..<end {
                let c = weights[k] & 0xFFFF_FFFF
                all &+= c
                ones &+= c & (0 &- pay[k])
            }
            t[0] = all &- ones
            t[1] = ones
            return
        }
        t.update(repeating: 0, count: classes)
        for k in start..<end { t[Int(pay[k])] &+= weights[k] & 0xFFFF_FFFF }
    }

    mutating func beginNode(totals: UnsafePointer<UInt64>) -> Bool {
        total.update(from: totals, count: classes)
        var occupied = 0
        majority = 0
        for c in 0..<classes where total[c] > 0 {
            occupied += 1
            if Double(total[c]) * classWeight[c] > Double(total[majority]) * classWeight[majority] { majority = c }
        }
        return occupied > 1
    }

    func parentScore() -> Double {
        var w = 0.0
        var s = 0.0
        for c in 0..<classes {
            let t = Double(total[c]) * classWeight[c]
            w += t
            s += criterion == .gini ? t * t : xlogx(t)
        }
        return criterion == .gini ? s / w : s - xlogx(w)
    }

    func appendLeaf(to values: inout [Float]) {
        var sum = 0.0
        for c in 0..<classes { sum += Double(total[c]) * classWeight[c] }
        for c in 0..<classes {
            values.append(sum > 0 ? Float(Double(total[c]) * classWeight[c] / sum) : Float(1) / Float(classes))
        }
    }

    /// Split score with left counts `left` (+ `missing` when `withMissing`) against the node totals.
    @inline(__always)
    private func score(withMissing: Bool) -> Double {
        var wl = 0.0
        var wr = 0.0
        var sl = 0.0
        var sr = 0.0
        for c in 0..<classes {
            let lc = left[c] &+ (withMissing ? missing[c] : 0)
            let l = Double(lc) * classWeight[c]
            let r = Double(total[c] &- lc) * classWeight[c]
            wl += l
            wr += r
            if criterion == .gini {
                sl += l * l
                sr += r * r
            } else {
                sl += xlogx(l)
                sr += xlogx(r)
            }
        }
        return criterion == .gini ? sl / wl + sr / wr : sl - xlogx(wl) + sr - xlogx(wr)
    }

    mutating func scan(
        feature: Int, categorical: Bool, hist: UnsafeMutablePointer<UInt64>, mask: UnsafePointer<UInt64>,
        rows: Int, minLeaf: Int, reset: Bool, best: inout SplitCandidate
    ) -> Bool {
        if !categorical && classes == 2 && criterion == .gini {
            return scanBinaryGini(feature: feature, hist: hist, mask: mask, rows: rows, minLeaf: minLeaf, reset: reset, best: &best)
        }
        let C = classes
        let m = HistogramScan.occupiedValueBins(mask, into: order)
        let miss = Int(FeatureExtractor.missingBin)
        let hasMissing = mask[3] >> 63 != 0
        var missingRows = 0
        for c in 0..<C {
            let h = hasMissing ? hist[miss * C + c] : 0
            missing[c] = h & 0xFFFF_FFFF
            missingRows += Int(h >> 32)
        }
        defer {
            if reset {
                for i in 0..<m { (hist + Int(order[i]) * C).update(repeating: 0, count: C) }
                if hasMissing { (hist + miss * C).update(repeating: 0, count: C) }
            }
        }
        if m + (hasMissing ? 1 : 0) < 2 { return false }
        // Split positions: after order[k] for k < splits (categorical: dense levels only).
        var splits = m
        if categorical && m > 1 {
            splits = HistogramScan.moveSparseLevels(order, count: m, minRows: minLevelRows, scratch: scratch) { b in
                (0..<C).reduce(0) { r, c in r + Int(hist[b * C + c] >> 32) }
            }
            // Order the levels by the class share (binary: class 1; else the node's majority class).
            let target = C == 2 ? 1 : majority
            for i in 0..<m {
                let b = Int(order[i])
                var w = 0.0
                for c in 0..<C { w += Double(hist[b * C + c] & 0xFFFF_FFFF) * classWeight[c] }
                keys[b] = w > 0 ? Double(hist[b * C + target] & 0xFFFF_FFFF) * classWeight[target] / w : 0
            }
            HistogramScan.sortByKey(order, count: splits, keys: keys)
        }
        for c in 0..<C { left[c] = 0 }
        var leftRows = 0
        for k in 0..<m {
            let b = Int(order[k])
            for c in 0..<C {
                let h = hist[b * C + c]
                leftRows += Int(h >> 32)
                left[c] &+= h & 0xFFFF_FFFF
            }
            // Missing right: the last position is the values-versus-missing split.
            if k >= splits { break }
            if k < m - 1 || hasMissing {
                let rightRows = rows - leftRows
                if leftRows >= minLeaf && rightRows >= minLeaf {
                    HistogramScan.consider(
                        score(withMissing: false), feature: feature, categorical: categorical, order: order,
                        k: k, missingLeft: false, leftRows: leftRows, best: &best)
                }
            }
            // Missing left.
            if hasMissing && k < m - 1 {
                let l = leftRows + missingRows
                if l >= minLeaf && rows - l >= minLeaf {
                    HistogramScan.consider(
                        score(withMissing: true), feature: feature, categorical: categorical, order: order,
                        k: k, missingLeft: true, leftRows: l, best: &best)
                }
            }
        }
        return true
    }
}

extension ClassificationObjective {
    /// The common case, numeric feature, two classes, Gini: the general scan's result
    /// with scalars and straight from the occupancy mask (no bin order array).
    @inline(__always)
    private func scanBinaryGini(
        feature: Int, hist: UnsafeMutablePointer<UInt64>, mask: UnsafePointer<UInt64>,
        rows: Int, minLeaf: Int, reset: Bool, best: inout SplitCandidate
    ) -> Bool {
        let miss = Int(FeatureExtractor.missingBin)
        let hasMissing = mask[3] >> 63 != 0
        let m0 = mask[0]
        let m1 = mask[1]
        let m2 = mask[2]
        let m3 = mask[3] & ~(1 << 63)
        let occupied = m0.nonzeroBitCount + m1.nonzeroBitCount + m2.nonzeroBitCount + m3.nonzeroBitCount
        let w0 = classWeight[0]
        let w1 = classWeight[1]
        let t0 = Double(total[0]) * w0
        let t1 = Double(total[1]) * w1
        let mh0 = hasMissing ? hist[2 * miss] : 0
        let mh1 = hasMissing ? hist[2 * miss + 1] : 0
        let mc0 = Double(mh0 & 0xFFFF_FFFF) * w0
        let mc1 = Double(mh1 & 0xFFFF_FFFF) * w1
        let missingRows = Int(mh0 >> 32) + Int(mh1 >> 32)
        if hasMissing && reset {
            hist[2 * miss] = 0
            hist[2 * miss + 1] = 0
        }
        if occupied + (hasMissing ? 1 : 0) < 2 {
            if reset {
                for (w, bits) in [m0, m1, m2, m3].enumerated() where bits != 0 {
                    let b = w << 6 | bits.trailingZeroBitCount
                    hist[2 * b] = 0
                    hist[2 * b + 1] = 0
                }
            }
            return false
        }
        var l0c: UInt64 = 0
        var l1c: UInt64 = 0
        var leftRows = 0
        var seen = 0
        var bestScore = best.score
        var bestBin = -1
        var bestLeft = 0
        var bestMissingLeft = false
        @inline(__always) func gini(_ l0: Double, _ l1: Double) -> Double {
            let r0 = t0 - l0
            let r1 = t1 - l1
            return (l0 * l0 + l1 * l1) / (l0 + l1) + (r0 * r0 + r1 * r1) / (r0 + r1)
        }
        for w in 0..<4 {
            var bits = w == 0 ? m0 : w == 1 ? m1 : w == 2 ? m2 : m3
            while bits != 0 {
                let b = w << 6 | bits.trailingZeroBitCount
                bits &= bits &- 1
                let h0 = hist[2 * b]
                let h1 = hist[2 * b + 1]
                if reset {
                    hist[2 * b] = 0
                    hist[2 * b + 1] = 0
                }
                seen += 1
                leftRows += Int(h0 >> 32) + Int(h1 >> 32)
                l0c &+= h0 & 0xFFFF_FFFF
                l1c &+= h1 & 0xFFFF_FFFF
                let last = seen == occupied
                if last && !hasMissing { continue }
                let l0 = Double(l0c) * w0
                let l1 = Double(l1c) * w1
                if leftRows >= minLeaf && rows - leftRows >= minLeaf {
                    let s = gini(l0, l1)
                    if s > bestScore {
                        bestScore = s
                        bestBin = b
                        bestLeft = leftRows
                        bestMissingLeft = false
                    }
                }
                if hasMissing && !last {
                    let l = leftRows + missingRows
                    if l >= minLeaf && rows - l >= minLeaf {
                        let s = gini(l0 + mc0, l1 + mc1)
                        if s > bestScore {
                            bestScore = s
                            bestBin = b
                            bestLeft = l
                            bestMissingLeft = true
                        }
                    }
                }
            }
        }
        if bestBin >= 0 {
            best.setThreshold(feature: feature, bin: bestBin, missingLeft: bestMissingLeft, score: bestScore, leftRows: bestLeft)
        }
        return true
    }
}

@inline(__always)
func xlogx(_ x: Double) -> Double { x > 0 ? x * Foundation.log(x) : 0 }
