/// The best split of one node found by ``TreeGrower``.
struct SplitCandidate {
    var feature: Int = -1
    /// Numeric: rows with bin <= `bin` go left. Unused for categorical splits.
    var bin: Int = -1
    /// Categorical: the bins that go left (bit 255: missing).
    var leftSet: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    var categorical = false
    var missingLeft = false
    /// The objective's proxy score (higher is better).
    var score: Double = -.infinity
    var leftRows: Int = 0
    var isValid: Bool { feature >= 0 }

    /// Makes this the numeric split of `feature` after `bin`.
    @inline(__always)
    mutating func setThreshold(feature: Int, bin: Int, missingLeft: Bool, score: Double, leftRows: Int) {
        self.feature = feature
        self.bin = bin
        self.missingLeft = missingLeft
        self.score = score
        self.leftRows = leftRows
        categorical = false
    }

    /// Whether a row with bin `b` goes left under this split.
    @inline(__always)
    func goesLeft(_ b: UInt8) -> Bool {
        if categorical {
            let w: UInt64 =
                switch b >> 6 {
                case 0: leftSet.0
                case 1: leftSet.1
                case 2: leftSet.2
                default: leftSet.3
                }
            return w >> UInt64(b & 63) & 1 != 0
        }
        return Int(b) <= bin || (b == FeatureExtractor.missingBin && missingLeft)
    }
}

/// The learning task's side of the tree learner (after LightGBM's `src/objective/` apart
/// from `src/treelearner/`): the per-row target payload, the histogram cell, the split
/// score over a feature's histogram (thresholds or ordered level sets, with a learned
/// side for missing values) and the leaf payload. ``TreeGrower`` is generic over it;
/// ``ClassificationObjective`` and ``RegressionObjective`` implement it.
///
/// Histograms are `UInt64` words, ``cellWords`` per bin, 256 bins per feature (bin 255 =
/// missing), with an occupancy mask of four words per feature.
protocol SplitObjective {
    /// Histogram words per bin.
    var cellWords: Int { get }
    /// Values per leaf.
    var outputWidth: Int { get }
    /// Whether a parent histogram minus a child's equals the other child's exactly (integer cells).
    var exactSubtraction: Bool { get }
    /// The payload of partition row `row` (moved with the row through the node partitioning).
    func payload(row: Int) -> UInt64
    /// Adds entries `start..<end` (rows `idx`, weight words `weights` = `(rows << 32) |
    /// bootstrap count`, payloads `pay`) to the histograms of the `g` columns in `columns`
    /// (row r's bin of column j at `columns[j][r * rowStride]`: 1 for column-major bins, the
    /// feature count for a row-major copy): slot j at `hist + j * 256 * cellWords`, occupancy
    /// at `mask + j * 4` (zeroed first).
    func accumulate(
        groupCount g: Int, columns: UnsafePointer<UnsafePointer<UInt8>>, rowStride: Int, idx: UnsafePointer<Int32>,
        weights: UnsafePointer<UInt64>, pay: UnsafePointer<UInt64>, start: Int, end: Int,
        hist: UnsafeMutablePointer<UInt64>, mask: UnsafeMutablePointer<UInt64>)
    /// Words of a node's target totals (class counts; or weight, weighted sum, min, max).
    var totalsWords: Int { get }
    /// Sums entries `start..<end` (weight words `weights`, payloads `pay`) into totals `t`.
    func sumTotals(weights: UnsafePointer<UInt64>, pay: UnsafePointer<UInt64>, start: Int, end: Int, into t: UnsafeMutablePointer<UInt64>)
    /// Makes `totals` the current node's; false when the node cannot be split (pure, or constant target).
    mutating func beginNode(totals: UnsafePointer<UInt64>) -> Bool
    /// Scans one feature's histogram for a better split than `best`; returns false when
    /// the feature is constant in the node. With `reset` the visited bins are zeroed.
    mutating func scan(
        feature: Int, categorical: Bool, hist: UnsafeMutablePointer<UInt64>, mask: UnsafePointer<UInt64>,
        rows: Int, minLeaf: Int, reset: Bool, best: inout SplitCandidate
    ) -> Bool
    /// The current node's unsplit score, on the scale of split scores.
    func parentScore() -> Double
    /// Rows a categorical level needs in a node to be ordered and sent left.
    var minLevelRows: Int { get }
    /// Whether the objective scores entry subsets (``fillSubsetScores(weights:pay:count:rows:minLeaf:scores:leftRows:)``),
    /// so that nodes of at most ``SubsetSplitScan/maxEntries`` entries are scanned by ``SubsetSplitScan``.
    var scoresSubsets: Bool { get }
    /// For the current node's `count` entries (weight words `weights`, payloads `pay`;
    /// `rows` rows in all), the split score of sending each subset left: `scores[mask]`
    /// for every `mask` below `1 << count` (bit j: entry j), −∞ when a side would have
    /// fewer than `minLeaf` rows (so also for the empty and the full subset), and the
    /// subset's rows in `leftRows[mask]`; returns the highest score.
    func fillSubsetScores(
        weights: UnsafePointer<UInt64>, pay: UnsafePointer<UInt64>, count: Int, rows: Int, minLeaf: Int,
        scores: UnsafeMutablePointer<Double>, leftRows: UnsafeMutablePointer<Int32>
    ) -> Double
    /// Appends the current node's leaf values (``outputWidth`` of them).
    func appendLeaf(to values: inout [Float])
}

extension SplitObjective {
    var scoresSubsets: Bool { false }

    func fillSubsetScores(
        weights: UnsafePointer<UInt64>, pay: UnsafePointer<UInt64>, count: Int, rows: Int, minLeaf: Int,
        scores: UnsafeMutablePointer<Double>, leftRows: UnsafeMutablePointer<Int32>
    ) -> Double {
        scores.update(repeating: -.infinity, count: 1 << count)
        leftRows.update(repeating: 0, count: 1 << count)
        return -.infinity
    }
}

/// Buffers an objective's histogram scan reuses across nodes: the bin order, the order
/// keys, the sparse-level overflow, and `words` per-class (or per-total) counters.
final class ScanScratch {
    let order: UnsafeMutablePointer<Int32>
    let keys: UnsafeMutablePointer<Double>
    let sparse: UnsafeMutablePointer<Int32>
    let total: UnsafeMutablePointer<UInt64>
    let left: UnsafeMutablePointer<UInt64>
    let missing: UnsafeMutablePointer<UInt64>

    init(words: Int) {
        let w = max(words, 1)
        order = .allocate(capacity: 256)
        order.initialize(repeating: 0, count: 256)
        keys = .allocate(capacity: 256)
        keys.initialize(repeating: 0, count: 256)
        sparse = .allocate(capacity: 256)
        sparse.initialize(repeating: 0, count: 256)
        total = .allocate(capacity: w)
        total.initialize(repeating: 0, count: w)
        left = .allocate(capacity: w)
        left.initialize(repeating: 0, count: w)
        missing = .allocate(capacity: w)
        missing.initialize(repeating: 0, count: w)
    }

    deinit {
        order.deallocate()
        keys.deallocate()
        sparse.deallocate()
        total.deallocate()
        left.deallocate()
        missing.deallocate()
    }
}

/// Shared pieces of the objectives' histogram scans.
enum HistogramScan {
    /// Nodes of at least this many entries build histograms without maintaining the
    /// occupancy masks and derive them afterwards (``occupancy(of:features:cellWords:into:)``):
    /// one pass over 256 cells per feature instead of a mask update per entry and feature.
    static let maskFromCellsMinEntries = 256

    /// The occupancy masks (four words per feature) of `features` histograms at `hist`
    /// (`256 * cellWords` words each): a bin is occupied when a word of its cell is nonzero.
    @inline(__always)
    static func occupancy(of hist: UnsafePointer<UInt64>, features: Int, cellWords: Int, into mask: UnsafeMutablePointer<UInt64>) {
        for j in 0..<features {
            let h = hist + j * 256 * cellWords
            for w in 0..<4 {
                var bits: UInt64 = 0
                for i in 0..<64 {
                    let cell = h + (w &* 64 &+ i) &* cellWords
                    var any: UInt64 = 0
                    for c in 0..<cellWords { any |= cell[c] }
                    bits |= (any != 0 ? 1 : 0) &<< UInt64(i)
                }
                mask[j &* 4 &+ w] = bits
            }
        }
    }

    /// Occupied bins of a histogram mask, ascending, excluding the missing bin; returns the count.
    @inline(__always)
    static func occupiedValueBins(_ mask: UnsafePointer<UInt64>, into order: UnsafeMutablePointer<Int32>) -> Int {
        var m = 0
        for w in 0..<4 {
            var bits = w == 3 ? mask[3] & ~(1 << 63) : mask[w]
            while bits != 0 {
                order[m] = Int32(w << 6 | bits.trailingZeroBitCount)
                bits &= bits &- 1
                m += 1
            }
        }
        return m
    }

    /// Moves the bins with fewer than `minRows` rows in the node (`rows(bin)`) behind the
    /// others, keeping each group's order; returns how many bins are in front. A
    /// categorical split puts only front bins on its left: a level with few rows in a node
    /// says little about its target mean, and ordering by it would overfit.
    @inline(__always)
    static func moveSparseLevels(
        _ order: UnsafeMutablePointer<Int32>, count: Int, minRows: Int, scratch: UnsafeMutablePointer<Int32>,
        rows: (Int) -> Int
    ) -> Int {
        guard minRows > 1 else { return count }
        var front = 0
        var back = 0
        for i in 0..<count {
            let b = order[i]
            if rows(Int(b)) >= minRows {
                order[front] = b
                front += 1
            } else {
                scratch[back] = b
                back += 1
            }
        }
        for i in 0..<back { order[front + i] = scratch[i] }
        return front
    }

    /// Sorts `order[0..<count]` by `keys[bin]` ascending, ties by bin (insertion sort: a node has few levels).
    @inline(__always)
    static func sortByKey(_ order: UnsafeMutablePointer<Int32>, count: Int, keys: UnsafePointer<Double>) {
        guard count > 1 else { return }
        for i in 1..<count {
            let b = order[i]
            let k = keys[Int(b)]
            var j = i
            while j > 0 {
                let p = order[j - 1]
                let pk = keys[Int(p)]
                if pk < k || (pk == k && p < b) { break }
                order[j] = p
                j -= 1
            }
            order[j] = b
        }
    }

    /// The level set of the first `count` bins of `order`, plus the missing bin when `missingLeft`.
    static func levelSet(_ order: UnsafePointer<Int32>, count: Int, missingLeft: Bool) -> (UInt64, UInt64, UInt64, UInt64) {
        var w: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        func set(_ b: Int) {
            let bit: UInt64 = 1 << UInt64(b & 63)
            switch b >> 6 {
            case 0: w.0 |= bit
            case 1: w.1 |= bit
            case 2: w.2 |= bit
            default: w.3 |= bit
            }
        }
        for i in 0..<count { set(Int(order[i])) }
        if missingLeft { set(Int(FeatureExtractor.missingBin)) }
        return w
    }

    /// Records `score` in `best` when it is higher: split after position `k` of `order`.
    @inline(__always)
    static func consider(
        _ score: Double, feature: Int, categorical: Bool, order: UnsafePointer<Int32>, k: Int,
        missingLeft: Bool, leftRows: Int, best: inout SplitCandidate
    ) {
        guard score > best.score else { return }
        best.feature = feature
        best.score = score
        best.leftRows = leftRows
        best.missingLeft = missingLeft
        best.categorical = categorical
        if categorical {
            best.bin = -1
            best.leftSet = levelSet(order, count: k + 1, missingLeft: missingLeft)
        } else {
            best.bin = Int(order[k])
        }
    }
}
