/// Grows trees on a ``BinnedPartition`` with histogram split finding, generic over the
/// learning task's ``SplitObjective`` (the tree learner knows rows, bins and nodes; the
/// objective knows targets, cells, scores and leaves).
///
/// One grower per thread; it owns every buffer it needs and reuses them across trees,
/// so growing a tree allocates only the tree's own arrays. Technique (after LightGBM):
/// - the in-bag rows are an index array; each node is a range of it, split by a stable
///   in-place partition, so rows stay in ascending order inside a node (monotone column reads);
/// - bootstrap samples are per-row counts (weights), never copies of rows;
/// - rows identical in every bin and in the target are merged into weighted groups
///   (``RowGroups``) when that leaves at most 3/4 of them: the in-bag entries are then
///   groups, each with its members' summed bootstrap count and the number of members
///   drawn, so split finding sees the same histograms;
/// - a node's histogram for a candidate feature is one pass over its rows, scanning only
///   the occupied bin range (a 256-bit occupancy mask per feature);
/// - nodes of at most ``SubsetSplitScan/maxEntries`` entries build no histograms when the
///   objective scores entry subsets: each feature's thresholds are looked up in a table
///   of every subset's score (``SubsetSplitScan``);
/// - features are sampled per node (max_features), so histograms are built only for the
///   sampled features, up to ``groupSize`` of them per pass over the rows; with
///   max_features = all and an objective with exact (integer) cells, large nodes use
///   sibling subtraction (see `subtractionEnabled`).
final class TreeGrower<Objective: SplitObjective> {
    /// Features whose histograms are built together in one pass over a node's rows.
    static var groupSize: Int { 8 }

    let partition: BinnedPartition
    let parameters: ForestParameters
    private var objective: Objective
    let n: Int
    let cellWords: Int
    let mtry: Int
    /// Features with more than one value bin in the partition (or with missing values).
    let candidates: [Int32]

    /// Merged identical rows (nil: every row is its own entry).
    let groups: RowGroups?
    /// A row-major copy of the partition's bins (`featureCount` bytes per row), shared by the
    /// partition's growers, which histogram building reads instead of the columns: a row's
    /// sampled features then share one or two cache lines instead of one line per feature
    /// (``ForestTrainer/rowMajorMinBytes``). Nil: read the columns.
    let rowMajor: UnsafePointer<UInt8>?

    // Per-entry state, aligned with `idx` (kept in node order): the row (a group's
    // representative), its weight word `(rows << 32) | bootstrap count` and its payload.
    private var idx: UnsafeMutablePointer<Int32>
    private var wt: UnsafeMutablePointer<UInt64>
    private var pay: UnsafeMutablePointer<UInt64>
    private var tmpIdx: UnsafeMutablePointer<Int32>
    private var tmpWt: UnsafeMutablePointer<UInt64>
    private var tmpPay: UnsafeMutablePointer<UInt64>
    private var rowCounts: UnsafeMutablePointer<UInt32>
    /// Per group: summed bootstrap count and members drawn (grouped growers only).
    private var groupCount: UnsafeMutablePointer<UInt32>
    private var groupRows: UnsafeMutablePointer<UInt32>
    private var hist: UnsafeMutablePointer<UInt64>
    private let mask: UnsafeMutablePointer<UInt64>
    private let columns: UnsafeMutablePointer<UnsafePointer<UInt8>>
    private var features: UnsafeMutablePointer<Int32>
    private let leftTable: UnsafeMutablePointer<Bool>
    /// Per feature, whether the current node's search found it constant (cleared after each search).
    private let constantScratch: UnsafeMutablePointer<Bool>
    /// Split finding in nodes of at most ``SubsetSplitScan/maxEntries`` entries (objectives that score subsets).
    private let subsetScan = SubsetSplitScan()
    /// Whether small nodes are scanned by subsets (off: by histograms; for tests).
    var subsetScanEnabled = true
    /// Whether some candidate feature is categorical.
    private let hasCategoricalCandidate: Bool

    /// A grower over `partition`; `groups` are its merged identical rows
    /// (``findGroups(partition:objective:)``, found once and shared by a partition's
    /// growers), nil to grow over rows.
    init(
        partition: BinnedPartition, parameters: ForestParameters, objective: Objective, groups: RowGroups? = nil,
        rowMajor: UnsafePointer<UInt8>? = nil
    ) {
        self.partition = partition
        self.groups = groups
        self.rowMajor = rowMajor
        self.parameters = parameters
        self.objective = objective
        n = partition.rowCount
        cellWords = objective.cellWords
        mtry = parameters.maxFeatures.resolve(featureCount: partition.featureCount, task: partition.task)
        var cands: [Int32] = []
        for f in 0..<partition.featureCount where partition.valueBins[f] > 1 || Self.hasMissing(partition, f) {
            cands.append(Int32(f))
        }
        candidates = cands
        hasCategoricalCandidate = cands.contains { partition.categorical[Int($0)] }
        let m = max(n, 1)
        idx = .allocate(capacity: m)
        wt = .allocate(capacity: m)
        pay = .allocate(capacity: m)
        tmpIdx = .allocate(capacity: m)
        tmpWt = .allocate(capacity: m)
        tmpPay = .allocate(capacity: m)
        rowCounts = .allocate(capacity: m)
        let g = max(groups?.count ?? 0, 1)
        groupCount = .allocate(capacity: g)
        groupRows = .allocate(capacity: g)
        hist = .allocate(capacity: Self.groupSize * 256 * cellWords)
        hist.initialize(repeating: 0, count: Self.groupSize * 256 * cellWords)
        mask = .allocate(capacity: Self.groupSize * 4)
        columns = .allocate(capacity: Self.groupSize)
        features = .allocate(capacity: max(cands.count, 1))
        leftTable = .allocate(capacity: 256)
        leftTable.initialize(repeating: false, count: 256)
        totals = .allocate(capacity: max(objective.totalsWords, 1))
        totals.initialize(repeating: 0, count: max(objective.totalsWords, 1))
        constantScratch = .allocate(capacity: max(partition.featureCount, 1))
        constantScratch.initialize(repeating: false, count: max(partition.featureCount, 1))
    }

    deinit {
        idx.deallocate()
        wt.deallocate()
        pay.deallocate()
        tmpIdx.deallocate()
        tmpWt.deallocate()
        tmpPay.deallocate()
        groupCount.deallocate()
        groupRows.deallocate()
        for slab in allSlabs { slab.deallocate() }
        rowCounts.deallocate()
        hist.deallocate()
        mask.deallocate()
        columns.deallocate()
        features.deallocate()
        leftTable.deallocate()
        constantScratch.deallocate()
        totals.deallocate()
    }

    private static func hasMissing(_ p: BinnedPartition, _ f: Int) -> Bool {
        p.bins.withUnsafeBufferPointer { b in
            let column = b.baseAddress! + f * p.rowCount
            for r in 0..<p.rowCount where column[r] == FeatureExtractor.missingBin { return true }
            return false
        }
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

    /// The identical rows of `partition` for `objective`'s payloads, when merging them
    /// leaves at most 3/4 of the rows; nil otherwise.
    static func findGroups(partition: BinnedPartition, objective: Objective) -> RowGroups? {
        partition.bins.withUnsafeBufferPointer { b in
            RowGroups.find(bins: b.baseAddress!, rows: partition.rowCount, features: partition.featureCount) {
                objective.payload(row: $0)
            }
        }
    }

    /// Fills the in-bag entries from per-row bootstrap counts; returns the number of
    /// entries and of distinct rows drawn.
    private func loadInBag(_ counts: UnsafePointer<UInt32>) -> (entries: Int, rows: Int) {
        var m = 0
        guard let groups else {
            for r in 0..<n where counts[r] > 0 {
                idx[m] = Int32(r)
                wt[m] = 1 << 32 | UInt64(counts[r])
                pay[m] = objective.payload(row: r)
                m += 1
            }
            return (m, m)
        }
        let g = groups.count
        groupCount.update(repeating: 0, count: g)
        groupRows.update(repeating: 0, count: g)
        var rows = 0
        groups.groupOf.withUnsafeBufferPointer { groupOf in
            for r in 0..<n {
                let c = counts[r]
                let k = Int(groupOf[r])
                groupCount[k] &+= c
                groupRows[k] &+= c > 0 ? 1 : 0
            }
        }
        groups.representative.withUnsafeBufferPointer { representative in
            for k in 0..<g where groupCount[k] > 0 {
                let r = representative[k]
                idx[m] = r
                wt[m] = UInt64(groupRows[k]) << 32 | UInt64(groupCount[k])
                pay[m] = objective.payload(row: Int(r))
                rows += Int(groupRows[k])
                m += 1
            }
        }
        return (m, rows)
    }

    /// Grows one tree from `seed`.
    func grow(seed: UInt64) -> Tree {
        var rng = Self.bootstrapCounts(seed: seed, rows: n, bootstrap: parameters.bootstrap, into: rowCounts)
        let (m, rows) = loadInBag(rowCounts)
        var tree = Tree(outputWidth: objective.outputWidth, featureCount: partition.featureCount)
        for (i, f) in candidates.enumerated() { features[i] = f }
        partition.bins.withUnsafeBufferPointer { bins in
            growNodes(tree: &tree, entries: m, rows: rows, bins: bins.baseAddress!, rng: &rng)
        }
        return tree
    }

    /// The best split of the root node over all candidate features, given per-row
    /// bootstrap counts (a hook for tests that check split finding against brute force).
    func bestRootSplit(counts: [UInt32], seed: UInt64 = 1) -> SplitCandidate {
        let (m, rows) = counts.withUnsafeBufferPointer { loadInBag($0.baseAddress!) }
        nodeTotals(start: 0, end: m)
        _ = objective.beginNode(totals: totals)
        for (i, f) in candidates.enumerated() { features[i] = f }
        var rng = ForestRNG(seed: seed)
        return partition.bins.withUnsafeBufferPointer {
            findSplit(start: 0, end: m, rows: rows, bins: $0.baseAddress!, rng: &rng, knownConstants: 0).0
        }
    }

    /// The root node's unsplit score (tests).
    func rootParentScore(counts: [UInt32]) -> Double {
        let (m, _) = counts.withUnsafeBufferPointer { loadInBag($0.baseAddress!) }
        nodeTotals(start: 0, end: m)
        _ = objective.beginNode(totals: totals)
        return objective.parentScore()
    }

    // MARK: Sibling subtraction (max_features = all)

    /// With max_features = all every node needs every feature's histogram, so (as LightGBM)
    /// a node of at least `subtractionMinRows` rows keeps a slab with all of them; after a
    /// split only the smaller child's slab is built from rows and the larger child's is
    /// the parent's minus it. Only for objectives whose cells subtract exactly (packed
    /// integer counts): the trees are then bit-identical to building every histogram from rows (tested).
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
    private var slabCount: Int { candidates.count * 256 * cellWords }
    /// Subtraction pays only when every feature is scanned at every node; slabs are capped at 4 MiB.
    private var usesSubtraction: Bool {
        subtractionEnabled && objective.exactSubtraction && mtry >= candidates.count && !candidates.isEmpty
            && slabCount * 8 <= 4 << 20
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

    /// Where histogram building reads feature `f`: its column, or its offset in the row-major copy.
    @inline(__always)
    private func column(_ f: Int, _ bins: UnsafePointer<UInt8>) -> UnsafePointer<UInt8> {
        if let rowMajor { return rowMajor + f }
        return bins + f * n
    }

    /// The distance between two rows' bins of one feature where histogram building reads them.
    private var rowStride: Int { rowMajor == nil ? 1 : partition.featureCount }

    /// Fills an empty slab with every candidate feature's histogram over rows start..<end.
    private func buildSlab(_ slab: UnsafeMutablePointer<UInt64>, start: Int, end: Int, bins: UnsafePointer<UInt8>) {
        var first = 0
        while first < candidates.count {
            let g = min(Self.groupSize, candidates.count - first)
            for j in 0..<g { columns[j] = column(Int(candidates[first + j]), bins) }
            objective.accumulate(
                groupCount: g, columns: columns, rowStride: rowStride, idx: idx, weights: wt, pay: pay, start: start, end: end,
                hist: slab + first * 256 * cellWords, mask: mask)
            first += g
        }
    }

    /// Recomputes the occupancy mask (in `mask[0..<4]`) of one feature's histogram in a slab.
    private func slabMask(_ h: UnsafeMutablePointer<UInt64>) {
        let W = cellWords
        mask[0] = 0
        mask[1] = 0
        mask[2] = 0
        mask[3] = 0
        for b in 0..<256 {
            var any: UInt64 = 0
            for c in 0..<W { any |= h[b * W + c] }
            if any != 0 { mask[b >> 6] |= 1 << UInt64(b & 63) }
        }
    }

    private struct PendingNode {
        /// Entries `start..<end` of `idx`, holding `rows` distinct in-bag rows.
        var node: Int
        var start: Int
        var end: Int
        var rows: Int
        var depth: Int
        var slab: UnsafeMutablePointer<UInt64>? = nil
        /// `features[0..<constants]` are constant in this node (inherited from its ancestors).
        var constants = 0
    }

    /// The current node's target totals (``SplitObjective/totalsWords`` words).
    private let totals: UnsafeMutablePointer<UInt64>

    /// Sums rows `start..<end` into `totals`. (Summing each child while partitioning the
    /// parent instead was measured slower: the stores depend on the side taken.)
    private func nodeTotals(start: Int, end: Int) {
        objective.sumTotals(weights: wt, pay: pay, start: start, end: end, into: totals)
    }

    private func growNodes(tree: inout Tree, entries m: Int, rows inBag: Int, bins: UnsafePointer<UInt8>, rng: inout ForestRNG) {
        tree.appendNode()
        var stack: [PendingNode] = [PendingNode(node: 0, start: 0, end: m, rows: inBag, depth: 0)]
        let subtraction = usesSubtraction
        let minSlabRows = max(subtractionMinRows, 17)
        if subtraction && m >= minSlabRows {
            stack[0].slab = takeSlab()
            buildSlab(stack[0].slab!, start: 0, end: m, bins: bins)
        }
        let maxDepth = parameters.maxDepth ?? Int.max
        let minLeaf = parameters.minSamplesLeaf
        while let node = stack.popLast() {
            let rows = node.rows
            nodeTotals(start: node.start, end: node.end)
            let splittable = objective.beginNode(totals: totals)
            tree.depth = max(tree.depth, node.depth)
            var split = SplitCandidate()
            var constants = node.constants
            if node.depth < maxDepth && rows >= parameters.minSamplesSplit && rows >= 2 * minLeaf && splittable {
                (split, constants) = findSplit(
                    start: node.start, end: node.end, rows: rows, bins: bins, rng: &rng,
                    slab: node.slab, knownConstants: node.constants)
            }
            guard split.isValid else {
                if let slab = node.slab { releaseSlab(slab) }
                tree.makeLeaf(node.node)
                objective.appendLeaf(to: &tree.leafValues)
                continue
            }
            tree.importances[split.feature] += max(split.score - objective.parentScore(), 0)
            if split.categorical {
                for b in 0..<256 { leftTable[b] = split.goesLeft(UInt8(b)) }
            } else {
                leftTable.update(repeating: true, count: split.bin + 1)
                (leftTable + split.bin + 1).update(repeating: false, count: 255 - split.bin)
                leftTable[255] = split.missingLeft
            }
            let mid = partitionRows(start: node.start, end: node.end, column: bins + split.feature * n)
            let left = tree.nodeCount
            if split.categorical {
                tree.setCategoricalSplit(
                    node.node, feature: split.feature, leftSet: split.leftSet,
                    missingGoesLeft: split.missingLeft, leftChild: left)
            } else {
                tree.setNumericSplit(
                    node.node, feature: split.feature, threshold: split.bin,
                    missingGoesLeft: split.missingLeft, leftChild: left)
            }
            tree.appendNode()
            tree.appendNode()
            var leftSlab: UnsafeMutablePointer<UInt64>? = nil
            var rightSlab: UnsafeMutablePointer<UInt64>? = nil
            if let parent = node.slab {
                let leftEntries = mid - node.start
                let rightEntries = node.end - mid
                let smallIsLeft = leftEntries <= rightEntries
                if max(leftEntries, rightEntries) >= minSlabRows {
                    let small = takeSlab()
                    buildSlab(small, start: smallIsLeft ? node.start : mid, end: smallIsLeft ? mid : node.end, bins: bins)
                    for i in 0..<slabCount { parent[i] &-= small[i] }
                    var smallSlab: UnsafeMutablePointer<UInt64>? = small
                    if min(leftEntries, rightEntries) < minSlabRows {
                        releaseSlab(small)
                        smallSlab = nil
                    }
                    if smallIsLeft {
                        leftSlab = smallSlab
                        rightSlab = parent
                    } else {
                        leftSlab = parent
                        rightSlab = smallSlab
                    }
                } else {
                    releaseSlab(parent)
                }
            }
            stack.append(
                PendingNode(
                    node: left + 1, start: mid, end: node.end, rows: rows - split.leftRows,
                    depth: node.depth + 1, slab: rightSlab, constants: constants))
            stack.append(
                PendingNode(
                    node: left, start: node.start, end: mid, rows: split.leftRows,
                    depth: node.depth + 1, slab: leftSlab, constants: constants))
        }
    }

    /// Draws features in random order (partial Fisher–Yates) and returns the best split
    /// among the first `mtry` of them, continuing past `mtry` only while every feature
    /// drawn so far was constant in the node (as scikit-learn does), and how many features
    /// are now known to be constant in the node's subtree.
    ///
    /// As in scikit-learn, features found constant in a node are constant in all of its
    /// descendants: they are kept in `features[0..<knownConstants]` and never drawn or
    /// scanned again below it (the draw is over the others), which spares deep trees on
    /// data with many duplicate rows most of their histogram passes.
    private func findSplit(
        start: Int, end: Int, rows: Int, bins: UnsafePointer<UInt8>, rng: inout ForestRNG,
        slab: UnsafeMutablePointer<UInt64>? = nil, knownConstants: Int
    ) -> (SplitCandidate, Int) {
        var best = SplitCandidate()
        let d = candidates.count
        var visited = 0
        var nonConstant = 0
        var k = knownConstants
        let minLeaf = parameters.minSamplesLeaf
        let categorical = partition.categorical
        let isConstant = constantScratch
        @inline(__always) func draw() -> Int32 {
            let j = k + rng.nextInt(below: d - k)
            let f = features[j]
            features[j] = features[k]
            features[k] = f
            k += 1
            visited += 1
            return f
        }
        let entries = end - start
        if slab == nil && subsetScanEnabled && entries >= 2 && entries <= SubsetSplitScan.maxEntries && objective.scoresSubsets
            && (!hasCategoricalCandidate || rows < objective.minLevelRows)
        {
            let scan = subsetScan
            let highest = objective.fillSubsetScores(
                weights: wt + start, pay: pay + start, count: entries, rows: rows, minLeaf: minLeaf, scores: scan.scores,
                leftRows: scan.leftRows)
            let stride = rowStride
            // Every candidate's score is in the table, so once a split reaches the table's
            // highest no feature drawn later could replace it (improvement is strict): the
            // draw stops there with the split the full draw would choose. In a node of two
            // entries the first feature that separates them ends it.
            while k < d && (visited < mtry || nonConstant == 0) && best.score < highest {
                let f = Int(draw())
                let varies = scan.scan(
                    feature: f, categorical: categorical[f], column: column(f, bins), stride: stride, idx: idx + start,
                    count: entries, best: &best)
                nonConstant &+= varies ? 1 : 0
                isConstant[f] = !varies
            }
        } else if let slab {
            slabNodes += 1
            // Every feature's histogram is in the node's slab (built or subtracted); same
            // draw order and scoring as below, so the tree is identical either way.
            while k < d && (visited < mtry || nonConstant == 0) {
                let f = Int(draw())
                let h = slab + Int(candidateSlot[f]) * 256 * cellWords
                slabMask(h)
                if objective.scan(
                    feature: f, categorical: categorical[f], hist: h, mask: mask, rows: rows, minLeaf: minLeaf,
                    reset: false, best: &best)
                {
                    nonConstant += 1
                } else {
                    isConstant[f] = true
                }
            }
        } else {
            while k < d && (visited < mtry || nonConstant == 0) {
                // While under `mtry`, histograms are built in groups, one pass over the rows per
                // group; past it (all drawn features constant so far), one at a time.
                let g = visited < mtry ? min(Self.groupSize, mtry - visited, d - k) : 1
                let first = k
                for j in 0..<g { columns[j] = column(Int(draw()), bins) }
                objective.accumulate(
                    groupCount: g, columns: columns, rowStride: rowStride, idx: idx, weights: wt, pay: pay, start: start, end: end,
                    hist: hist, mask: mask)
                for j in 0..<g {
                    let f = Int(features[first + j])
                    if objective.scan(
                        feature: f, categorical: categorical[f], hist: hist + j * 256 * cellWords, mask: mask + j * 4,
                        rows: rows, minLeaf: minLeaf, reset: true, best: &best)
                    {
                        nonConstant += 1
                    } else {
                        isConstant[f] = true
                    }
                }
            }
        }
        // The drawn features found constant join the known ones, in draw order.
        var constants = knownConstants
        for pos in knownConstants..<k where isConstant[Int(features[pos])] {
            isConstant[Int(features[pos])] = false
            let f = features[pos]
            features[pos] = features[constants]
            features[constants] = f
            constants += 1
        }
        return (best, constants)
    }

    /// Stable partition of the node's entries: those whose bin goes left (`leftTable`)
    /// first; returns where the right side starts. Branchless: every entry is written to
    /// both sides and only the side it belongs to advances (the direction is
    /// data-dependent, so a branch would mispredict often).
    private func partitionRows(start: Int, end: Int, column: UnsafePointer<UInt8>) -> Int {
        let idx = idx
        let wt = wt
        let pay = pay
        let tmpIdx = tmpIdx
        let tmpWt = tmpWt
        let tmpPay = tmpPay
        let table = leftTable
        var l = start
        var r = 0
        for k in start..<end {
            let i = idx[k]
            let c = wt[k]
            let p = pay[k]
            let left = table[Int(column[Int(i)])] ? 1 : 0
            idx[l] = i
            wt[l] = c
            pay[l] = p
            tmpIdx[r] = i
            tmpWt[r] = c
            tmpPay[r] = p
            l &+= left
            r &+= 1 &- left
        }
        (idx + l).update(from: tmpIdx, count: r)
        (wt + l).update(from: tmpWt, count: r)
        (pay + l).update(from: tmpPay, count: r)
        return l
    }
}
