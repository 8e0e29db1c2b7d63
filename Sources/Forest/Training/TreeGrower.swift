import Foundation

/// The best split of one node found by ``TreeGrower``.
struct SplitCandidate: Equatable {
    var feature: Int = -1
    /// Rows with bin <= `bin` go left.
    var bin: Int = -1
    /// The criterion's proxy score (higher is better); see `TreeGrower.score`.
    var score: Double = -.infinity
    var leftRows: Int = 0
    var isValid: Bool { feature >= 0 }
}

/// Grows classification trees on a ``BinnedPartition`` with histogram split finding.
///
/// One grower per thread; it owns every buffer it needs and reuses them across trees,
/// so growing a tree allocates only the tree's own arrays. Technique (after LightGBM):
/// - the in-bag rows are an index array; each node is a range of it, split by a stable
///   in-place partition, so rows stay in ascending order inside a node (monotone column reads);
/// - bootstrap samples are per-row counts (weights), never copies of rows;
/// - a node's histogram for a candidate feature is one pass over its rows adding a packed
///   `(1 << 32) | count` to `hist[bin * classes + class]` (rows and weights in one add),
///   scanning only the occupied bin range; nodes of at most ``smallNodeRows`` rows skip
///   histograms and sort their few (bin, row) pairs instead;
/// - features are sampled per node (max_features), so histograms are built only for the
///   sampled features, up to `groupSize` of them per pass over the rows: with sqrt(d) of d
///   features this is cheaper than building all d for the smaller child and subtracting;
///   with max_features = all, large nodes do use sibling subtraction (see `subtractionEnabled`).
final class TreeGrower {
    static let smallNodeRows = 16
    /// Features whose histograms are built together in one pass over a node's rows.
    static let groupSize = 8

    let partition: BinnedPartition
    let parameters: ForestParameters
    let n: Int
    let classes: Int
    let mtry: Int
    let classWeight: [Double]
    /// Features that are not constant in the partition.
    let candidates: [Int32]

    // Per-row state, aligned with `idx` (kept in node order).
    private var idx: UnsafeMutablePointer<Int32>
    private var cnt: UnsafeMutablePointer<UInt32>
    private var lab: UnsafeMutablePointer<Int32>
    private var tmpIdx: UnsafeMutablePointer<Int32>
    private var tmpCnt: UnsafeMutablePointer<UInt32>
    private var tmpLab: UnsafeMutablePointer<Int32>
    private var rowCounts: UnsafeMutablePointer<UInt32>
    // Histogram: packed (rows << 32 | weight count) per (bin, class).
    private var hist: UnsafeMutablePointer<UInt64>
    private var sortKeys: UnsafeMutablePointer<UInt32>
    private let mask: UnsafeMutablePointer<UInt64>
    private let columns: UnsafeMutablePointer<UnsafePointer<UInt8>>
    private var features: UnsafeMutablePointer<Int32>
    // Per-class scratch.
    private var leftW: [UInt64]
    private var totalW: [UInt64]

    init(partition: BinnedPartition, parameters: ForestParameters) {
        self.partition = partition
        self.parameters = parameters
        n = partition.rowCount
        classes = partition.classCount
        mtry = parameters.maxFeatures.resolve(featureCount: partition.featureCount)
        var cands: [Int32] = []
        for f in 0..<partition.featureCount where partition.thresholds[f].count > 1 { cands.append(Int32(f)) }
        candidates = cands
        var cw = [Double](repeating: 1, count: classes)
        if parameters.classWeighting == .balanced {
            let counts = partition.classCounts
            for c in 0..<classes where counts[c] > 0 {
                cw[c] = Double(n) / (Double(classes) * Double(counts[c]))
            }
        }
        classWeight = cw
        let m = max(n, 1)
        idx = .allocate(capacity: m); cnt = .allocate(capacity: m); lab = .allocate(capacity: m)
        tmpIdx = .allocate(capacity: m); tmpCnt = .allocate(capacity: m); tmpLab = .allocate(capacity: m)
        rowCounts = .allocate(capacity: m)
        hist = .allocate(capacity: Self.groupSize * 256 * classes)
        hist.initialize(repeating: 0, count: Self.groupSize * 256 * classes)
        sortKeys = .allocate(capacity: Self.smallNodeRows)
        mask = .allocate(capacity: Self.groupSize * 4)
        columns = .allocate(capacity: Self.groupSize)
        features = .allocate(capacity: max(cands.count, 1))
        leftW = Array(repeating: 0, count: classes)
        totalW = Array(repeating: 0, count: classes)
    }

    deinit {
        idx.deallocate(); cnt.deallocate(); lab.deallocate()
        tmpIdx.deallocate(); tmpCnt.deallocate(); tmpLab.deallocate()
        for slab in allSlabs { slab.deallocate() }
        rowCounts.deallocate(); hist.deallocate(); sortKeys.deallocate(); mask.deallocate(); columns.deallocate(); features.deallocate()
    }

    /// Bootstrap counts of tree `seed`: the first `n` draws of its generator (so they can
    /// be regenerated for out-of-bag scoring without storing them).
    static func bootstrapCounts(seed: UInt64, rows n: Int, bootstrap: Bool, into counts: UnsafeMutablePointer<UInt32>) -> ForestRNG {
        var rng = ForestRNG(seed: seed)
        if bootstrap {
            counts.update(repeating: 0, count: n)
            for _ in 0..<n { counts[rng.nextInt(below: n)] &+= 1 }
        } else {
            counts.update(repeating: 1, count: n)
        }
        return rng
    }

    /// Grows one tree from `seed`.
    func grow(seed: UInt64) -> Tree {
        var rng = Self.bootstrapCounts(seed: seed, rows: n, bootstrap: parameters.bootstrap, into: rowCounts)
        var m = 0
        partition.labels.withUnsafeBufferPointer { labels in
            for r in 0..<n where rowCounts[r] > 0 {
                idx[m] = Int32(r); cnt[m] = rowCounts[r]; lab[m] = labels[r]; m += 1
            }
        }
        var tree = Tree(classCount: classes, featureCount: partition.featureCount)
        for (i, f) in candidates.enumerated() { features[i] = f }
        partition.bins.withUnsafeBufferPointer { bins in
            growNodes(tree: &tree, rowsInBag: m, bins: bins.baseAddress!, rng: &rng)
        }
        return tree
    }

    /// The best split of the root node over all candidate features, given per-row
    /// bootstrap counts (a hook for tests that check split finding against brute force).
    func bestRootSplit(counts: [UInt32], seed: UInt64 = 1) -> SplitCandidate {
        var m = 0
        for r in 0..<n where counts[r] > 0 {
            idx[m] = Int32(r); cnt[m] = counts[r]; lab[m] = partition.labels[r]; m += 1
        }
        for c in 0..<classes { totalW[c] = 0 }
        for k in 0..<m { totalW[Int(lab[k])] &+= UInt64(cnt[k]) }
        for (i, f) in candidates.enumerated() { features[i] = f }
        var rng = ForestRNG(seed: seed)
        return partition.bins.withUnsafeBufferPointer { findSplit(start: 0, end: m, bins: $0.baseAddress!, rng: &rng) }
    }

    // MARK: Sibling subtraction (max_features = all)

    /// With max_features = all every node needs every feature's histogram, so (as LightGBM)
    /// a node of at least `subtractionMinRows` rows keeps a slab with all of them; after a
    /// split only the smaller child's slab is built from rows and the larger child's is
    /// the parent's minus it. Packed integer counts make the subtraction exact: the trees
    /// are bit-identical to building every histogram from rows (tested).
    var subtractionEnabled = true
    var subtractionMinRows = 1024
    /// Nodes whose split was searched from a slab (for tests).
    private(set) var slabNodes = 0
    private var slabPool: [UnsafeMutablePointer<UInt64>] = []
    private var allSlabs: [UnsafeMutablePointer<UInt64>] = []
    private lazy var candidateSlot: [Int32] = {
        var slots = [Int32](repeating: -1, count: partition.featureCount)
        for (i, f) in candidates.enumerated() { slots[Int(f)] = Int32(i) }
        return slots
    }()
    private var slabCount: Int { candidates.count * 256 * classes }
    /// Subtraction pays only when every feature is scanned at every node; slabs are capped at 4 MiB.
    private var usesSubtraction: Bool {
        subtractionEnabled && mtry >= candidates.count && !candidates.isEmpty && slabCount * 8 <= 4 << 20
    }

    private func takeSlab() -> UnsafeMutablePointer<UInt64> {
        if let s = slabPool.popLast() { return s }
        let s = UnsafeMutablePointer<UInt64>.allocate(capacity: slabCount)
        s.initialize(repeating: 0, count: slabCount)
        allSlabs.append(s)
        return s
    }

    private func releaseSlab(_ s: UnsafeMutablePointer<UInt64>) {
        s.update(repeating: 0, count: slabCount)
        slabPool.append(s)
    }

    /// Fills an empty slab with every candidate feature's histogram over rows start..<end.
    private func buildSlab(_ slab: UnsafeMutablePointer<UInt64>, start: Int, end: Int, bins: UnsafePointer<UInt8>) {
        var first = 0
        while first < candidates.count {
            let g = min(Self.groupSize, candidates.count - first)
            for j in 0..<g { columns[j] = bins + Int(candidates[first + j]) * n }
            accumulate(groupCount: g, start: start, end: end, into: slab + first * 256 * classes)
            first += g
        }
    }

    /// Recomputes the occupancy mask (in `mask[0..<4]`) of one feature's histogram in a slab.
    private func slabMask(_ h: UnsafeMutablePointer<UInt64>) {
        let C = classes
        mask[0] = 0; mask[1] = 0; mask[2] = 0; mask[3] = 0
        for b in 0..<256 {
            var any: UInt64 = 0
            for c in 0..<C { any |= h[b * C + c] }
            if any != 0 { mask[b >> 6] |= 1 << UInt64(b & 63) }
        }
    }

    private struct PendingNode {
        var node: Int; var start: Int; var end: Int; var depth: Int
        var slab: UnsafeMutablePointer<UInt64>? = nil
    }

    private func growNodes(tree: inout Tree, rowsInBag m: Int, bins: UnsafePointer<UInt8>, rng: inout ForestRNG) {
        tree.feature.append(-1); tree.thresholdBin.append(0); tree.threshold.append(0); tree.child.append(0)
        var stack: [PendingNode] = [PendingNode(node: 0, start: 0, end: m, depth: 0)]
        let subtraction = usesSubtraction
        let minSlabRows = max(subtractionMinRows, Self.smallNodeRows + 1)
        if subtraction && m >= minSlabRows {
            stack[0].slab = takeSlab()
            buildSlab(stack[0].slab!, start: 0, end: m, bins: bins)
        }
        let maxDepth = parameters.maxDepth ?? Int.max
        let minLeaf = parameters.minSamplesLeaf
        while let node = stack.popLast() {
            let rows = node.end - node.start
            // Class totals of the node (integer weight counts).
            for c in 0..<classes { totalW[c] = 0 }
            for k in node.start..<node.end { totalW[Int(lab[k])] &+= UInt64(cnt[k]) }
            var occupied = 0
            for c in 0..<classes where totalW[c] > 0 { occupied += 1 }
            tree.depth = max(tree.depth, node.depth)
            var split = SplitCandidate()
            if node.depth < maxDepth && rows >= parameters.minSamplesSplit && rows >= 2 * minLeaf && occupied > 1 {
                split = findSplit(start: node.start, end: node.end, bins: bins, rng: &rng, slab: node.slab)
            }
            guard split.isValid else {
                if let slab = node.slab { releaseSlab(slab) }
                makeLeaf(tree: &tree, node: node.node)
                continue
            }
            let totals = weighted(totalW)
            let decrease = split.score - parentScore(totals)
            tree.importances[split.feature] += max(decrease, 0)
            partitionRows(start: node.start, end: node.end, column: bins + split.feature * n, bin: UInt8(split.bin))
            let left = tree.feature.count
            tree.feature[node.node] = Int32(split.feature)
            tree.thresholdBin[node.node] = UInt8(split.bin)
            tree.threshold[node.node] = partition.thresholds[split.feature][split.bin]
            tree.child[node.node] = Int32(left)
            for _ in 0..<2 {
                tree.feature.append(-1); tree.thresholdBin.append(0); tree.threshold.append(0); tree.child.append(0)
            }
            let mid = node.start + split.leftRows
            var leftSlab: UnsafeMutablePointer<UInt64>? = nil, rightSlab: UnsafeMutablePointer<UInt64>? = nil
            if let parent = node.slab {
                let leftRows = split.leftRows, rightRows = rows - split.leftRows
                let smallIsLeft = leftRows <= rightRows
                if max(leftRows, rightRows) >= minSlabRows {
                    let small = takeSlab()
                    buildSlab(small, start: smallIsLeft ? node.start : mid, end: smallIsLeft ? mid : node.end, bins: bins)
                    for i in 0..<slabCount { parent[i] &-= small[i] }
                    var smallSlab: UnsafeMutablePointer<UInt64>? = small
                    if min(leftRows, rightRows) < minSlabRows { releaseSlab(small); smallSlab = nil }
                    if smallIsLeft { leftSlab = smallSlab; rightSlab = parent } else { leftSlab = parent; rightSlab = smallSlab }
                } else {
                    releaseSlab(parent)
                }
            }
            stack.append(PendingNode(node: left + 1, start: mid, end: node.end, depth: node.depth + 1, slab: rightSlab))
            stack.append(PendingNode(node: left, start: node.start, end: mid, depth: node.depth + 1, slab: leftSlab))
        }
    }

    private func makeLeaf(tree: inout Tree, node: Int) {
        let w = weighted(totalW)
        let sum = w.reduce(0, +)
        tree.feature[node] = -1
        tree.child[node] = Int32(tree.leafValues.count / classes)
        for c in 0..<classes { tree.leafValues.append(sum > 0 ? Float(w[c] / sum) : Float(1) / Float(classes)) }
    }

    @inline(__always)
    private func weighted(_ counts: [UInt64]) -> [Double] {
        (0..<classes).map { Double(counts[$0]) * classWeight[$0] }
    }

    /// The criterion's score of an unsplit node (same scale as split scores).
    func parentScore(_ totals: [Double]) -> Double {
        let w = totals.reduce(0, +)
        switch parameters.criterion {
        case .gini: return totals.reduce(0) { $0 + $1 * $1 } / w
        case .entropy: return totals.reduce(0) { $0 + xlogx($1) } - xlogx(w)
        }
    }

    /// Split score from left and total weighted class sums; higher is better.
    /// Gini: Σ L²/|L| + Σ R²/|R|; entropy: Σ L log L − |L| log |L| + (same for R).
    /// The impurity decrease (weighted, as scikit-learn's importances) is score − parentScore.
    @inline(__always)
    func score(leftCounts: UnsafeMutableBufferPointer<UInt64>, total: UnsafeMutableBufferPointer<UInt64>) -> Double {
        var wl = 0.0, wr = 0.0, sl = 0.0, sr = 0.0
        switch parameters.criterion {
        case .gini:
            for c in 0..<classes {
                let l = Double(leftCounts[c]) * classWeight[c]
                let r = Double(total[c] - leftCounts[c]) * classWeight[c]
                wl += l; wr += r; sl += l * l; sr += r * r
            }
            return sl / wl + sr / wr
        case .entropy:
            for c in 0..<classes {
                let l = Double(leftCounts[c]) * classWeight[c]
                let r = Double(total[c] - leftCounts[c]) * classWeight[c]
                wl += l; wr += r; sl += xlogx(l); sr += xlogx(r)
            }
            return sl - xlogx(wl) + sr - xlogx(wr)
        }
    }

    /// Draws features in random order (partial Fisher–Yates) and returns the best split
    /// among the first `mtry` of them, continuing past `mtry` only while every feature
    /// drawn so far was constant in the node (as scikit-learn does).
    private func findSplit(start: Int, end: Int, bins: UnsafePointer<UInt8>, rng: inout ForestRNG,
                           slab: UnsafeMutablePointer<UInt64>? = nil) -> SplitCandidate {
        var best = SplitCandidate()
        let d = candidates.count
        var visited = 0, nonConstant = 0
        var k = 0
        @inline(__always) func draw() -> Int32 {
            let j = k + rng.nextInt(below: d - k)
            let f = features[j]
            features[j] = features[k]; features[k] = f
            k += 1
            visited += 1
            return f
        }
        if let slab {
            slabNodes += 1
            // Every feature's histogram is in the node's slab (built or subtracted); same
            // draw order and scoring as below, so the tree is identical either way.
            while k < d && (visited < mtry || nonConstant == 0) {
                let f = Int(draw())
                let h = slab + Int(candidateSlot[f]) * 256 * classes
                slabMask(h)
                if scanHistogram(feature: f, hist: h, mask: mask, rows: end - start, reset: false, best: &best) { nonConstant += 1 }
            }
            return best
        }
        if end - start > Self.smallNodeRows {
            // The first `mtry` features: histograms built in groups, one pass over the rows per group.
            while k < d && visited < mtry {
                let g = min(Self.groupSize, mtry - visited, d - k)
                let first = k
                for j in 0..<g { columns[j] = bins + Int(draw()) * n }
                accumulate(groupCount: g, start: start, end: end)
                for j in 0..<g {
                    if scanHistogram(feature: Int(features[first + j]), slot: j, rows: end - start, best: &best) { nonConstant += 1 }
                }
            }
        }
        while k < d && (visited < mtry || nonConstant == 0) {
            let f = draw()
            let column = bins + Int(f) * n
            let found: Bool
            if end - start <= Self.smallNodeRows {
                found = scanSorted(feature: Int(f), column: column, start: start, end: end, best: &best)
            } else {
                columns[0] = column
                accumulate(groupCount: 1, start: start, end: end)
                found = scanHistogram(feature: Int(f), slot: 0, rows: end - start, best: &best)
            }
            if found { nonConstant += 1 }
        }
        return best
    }

    /// Adds the node's rows to the histograms of the `groupCount` columns in `columns`
    /// (slot j: `hist + j * 256 * classes`, occupancy `mask + j * 4`), one pass over the rows.
    private func accumulate(groupCount g: Int, start: Int, end: Int) {
        accumulate(groupCount: g, start: start, end: end, into: hist)
    }

    private func accumulate(groupCount g: Int, start: Int, end: Int, into hist: UnsafeMutablePointer<UInt64>) {
        let C = classes
        let stride = 256 * C
        for j in 0..<(4 * g) { mask[j] = 0 }
        if C == 2 {
            for k in start..<end {
                let r = Int(idx[k]), l = Int(lab[k])
                let add = (1 << 32) | UInt64(cnt[k])
                for j in 0..<g {
                    let b = Int(columns[j][r])
                    hist[j &* 512 &+ (b &<< 1 | l)] &+= add
                    mask[j &* 4 &+ (b &>> 6)] |= 1 &<< UInt64(b & 63)
                }
            }
        } else {
            for k in start..<end {
                let r = Int(idx[k]), l = Int(lab[k])
                let add = (1 << 32) | UInt64(cnt[k])
                for j in 0..<g {
                    let b = Int(columns[j][r])
                    hist[j &* stride &+ b &* C &+ l] &+= add
                    mask[j &* 4 &+ (b &>> 6)] |= 1 &<< UInt64(b & 63)
                }
            }
        }
    }

    /// Scans the histogram in `slot` (filled by `accumulate`) for the best split of
    /// `feature` and resets it; returns false when the feature is constant in the node.
    /// Occupied bins are tracked in a 256-bit mask, so the scan and the reset visit only
    /// occupied bins, never all 256.
    private func scanHistogram(feature: Int, slot: Int, rows: Int, best: inout SplitCandidate) -> Bool {
        scanHistogram(feature: feature, hist: hist + slot * 256 * classes, mask: mask + slot * 4, rows: rows, reset: true, best: &best)
    }

    /// The scan itself; with `reset` the visited bins are zeroed (the group buffers),
    /// without it the histogram is left intact (a node's subtraction slab).
    private func scanHistogram(feature: Int, hist: UnsafeMutablePointer<UInt64>, mask: UnsafeMutablePointer<UInt64>,
                               rows: Int, reset: Bool, best: inout SplitCandidate) -> Bool {
        let C = classes
        let occupied = mask[0].nonzeroBitCount + mask[1].nonzeroBitCount + mask[2].nonzeroBitCount + mask[3].nonzeroBitCount
        if occupied < 2 {
            for w in 0..<4 where mask[w] != 0 && reset {
                (hist + (w << 6 | mask[w].trailingZeroBitCount) * C).update(repeating: 0, count: C)
            }
            return false
        }
        let minLeaf = parameters.minSamplesLeaf
        var leftRows = 0
        var seen = 0
        if C == 2 && parameters.criterion == .gini {
            let w0 = classWeight[0], w1 = classWeight[1]
            let t0 = Double(totalW[0]) * w0, t1 = Double(totalW[1]) * w1
            var l0c: UInt64 = 0, l1c: UInt64 = 0
            var bestScore = best.score
            var bestBin = -1, bestLeft = 0
            for w in 0..<4 {
                var m = mask[w]
                while m != 0 {
                    let b = w << 6 | m.trailingZeroBitCount
                    m &= m &- 1
                    let h0 = hist[2 * b], h1 = hist[2 * b + 1]
                    if reset { hist[2 * b] = 0; hist[2 * b + 1] = 0 }
                    seen += 1
                    if seen == occupied { continue }
                    leftRows += Int(h0 >> 32) + Int(h1 >> 32)
                    l0c &+= h0 & 0xFFFF_FFFF; l1c &+= h1 & 0xFFFF_FFFF
                    if leftRows < minLeaf || rows - leftRows < minLeaf { continue }
                    let l0 = Double(l0c) * w0, l1 = Double(l1c) * w1
                    let r0 = t0 - l0, r1 = t1 - l1
                    let s = (l0 * l0 + l1 * l1) / (l0 + l1) + (r0 * r0 + r1 * r1) / (r0 + r1)
                    if s > bestScore { bestScore = s; bestBin = b; bestLeft = leftRows }
                }
            }
            if bestBin >= 0 { best = SplitCandidate(feature: feature, bin: bestBin, score: bestScore, leftRows: bestLeft) }
            return true
        }
        leftW.withUnsafeMutableBufferPointer { left in
            totalW.withUnsafeMutableBufferPointer { total in
                for c in 0..<C { left[c] = 0 }
                for w in 0..<4 {
                    var m = mask[w]
                    while m != 0 {
                        let b = w << 6 | m.trailingZeroBitCount
                        m &= m &- 1
                        var binRows = 0
                        for c in 0..<C {
                            let h = hist[b * C + c]
                            if reset { hist[b * C + c] = 0 }
                            binRows += Int(h >> 32)
                            left[c] &+= h & 0xFFFF_FFFF
                        }
                        seen += 1
                        if seen == occupied { continue }
                        leftRows += binRows
                        if leftRows < minLeaf || rows - leftRows < minLeaf { continue }
                        let s = score(leftCounts: left, total: total)
                        if s > best.score {
                            best = SplitCandidate(feature: feature, bin: b, score: s, leftRows: leftRows)
                        }
                    }
                }
            }
        }
        return true
    }

    /// Sorted scan for small nodes: sorts (bin, position) keys instead of filling 256 bins.
    private func scanSorted(feature: Int, column: UnsafePointer<UInt8>, start: Int, end: Int, best: inout SplitCandidate) -> Bool {
        let m = end - start
        for k in 0..<m {
            let key = UInt32(column[Int(idx[start + k])]) << 16 | UInt32(k)
            var j = k
            while j > 0 && sortKeys[j - 1] > key { sortKeys[j] = sortKeys[j - 1]; j -= 1 }
            sortKeys[j] = key
        }
        if sortKeys[0] >> 16 == sortKeys[m - 1] >> 16 { return false }
        let minLeaf = parameters.minSamplesLeaf
        leftW.withUnsafeMutableBufferPointer { left in
            totalW.withUnsafeMutableBufferPointer { total in
                for c in 0..<classes { left[c] = 0 }
                var k = 0
                while k < m {
                    let bin = sortKeys[k] >> 16
                    while k < m && sortKeys[k] >> 16 == bin {
                        let pos = start + Int(sortKeys[k] & 0xFFFF)
                        left[Int(lab[pos])] &+= UInt64(cnt[pos])
                        k += 1
                    }
                    if k == m { break }
                    if k < minLeaf { continue }
                    if m - k < minLeaf { break }
                    let s = score(leftCounts: left, total: total)
                    if s > best.score {
                        best = SplitCandidate(feature: feature, bin: Int(bin), score: s, leftRows: k)
                    }
                }
            }
        }
        return true
    }

    /// Stable partition of the node's rows: bin <= `bin` first.
    private func partitionRows(start: Int, end: Int, column: UnsafePointer<UInt8>, bin: UInt8) {
        var l = start, r = 0
        for k in start..<end {
            if column[Int(idx[k])] <= bin {
                idx[l] = idx[k]; cnt[l] = cnt[k]; lab[l] = lab[k]; l += 1
            } else {
                tmpIdx[r] = idx[k]; tmpCnt[r] = cnt[k]; tmpLab[r] = lab[k]; r += 1
            }
        }
        (idx + l).update(from: tmpIdx, count: r)
        (cnt + l).update(from: tmpCnt, count: r)
        (lab + l).update(from: tmpLab, count: r)
    }
}

@inline(__always)
func xlogx(_ x: Double) -> Double { x > 0 ? x * Foundation.log(x) : 0 }
