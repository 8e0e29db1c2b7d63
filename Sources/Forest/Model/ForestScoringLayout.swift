/// The fixed order in which a forest's tree outputs are added into a prediction, so that
/// scoring the whole forest in one process and adding the partial sums of any slicing of
/// it (``ForestSlice``) give the same bits (floating-point addition is not associative:
/// the grouping is part of the model's definition, not of who scores it).
///
/// The grouping is a tree of nodes over the forest's trees, built from the tree weights only:
///
/// * a *run* is a maximal sequence of consecutive trees of equal weight (one partition's
///   trees in a merged forest); it is cut into ``segmentsPerRun`` *segments* of as equal a
///   size as possible (the first `count % segments` one tree larger), or one per tree when
///   it has fewer trees;
/// * a segment's value is the sum of its trees' leaf values in tree order, starting from 0;
/// * a run's segments are added pairwise (a node over items `lo..<hi` is the sum of the
///   nodes over `lo..<mid` and `mid..<hi`, `mid = lo + (hi - lo + 1) / 2`), then the
///   run's sum `x` becomes `x / count` (a single run) or `x / count * share` (its total weight);
/// * the runs are added pairwise the same way; a classification forest of several runs
///   then renormalises each row to sum 1 (``RandomForest/normalize(_:)``).
///
/// Every operation is element-wise on a row's values (or per row for the renormalisation),
/// so the result does not depend on how rows are chunked or threaded either.
public struct ForestScoringLayout: Sendable, Equatable {
    /// Segments a run is cut into (fewer when it has fewer trees).
    public static let segmentsPerRun = 16

    enum Transform: Sendable, Equatable {
        case none
        /// `x / count`
        case divide(Double)
        /// `x / count * share`
        case divideAndScale(Double, Double)
        /// Each row divided by its sum (when positive).
        case normalize
    }

    struct Node: Sendable, Equatable {
        /// The trees whose outputs the node's value holds.
        let trees: Range<Int>
        /// Children (-1: none). A node without children is a segment.
        let left: Int, right: Int
        let transform: Transform
        var isSegment: Bool { left < 0 }
    }

    public let task: TaskKind
    /// Values per row.
    public let outputWidth: Int
    public let treeCount: Int
    /// The forest's tree weights the grouping is built from.
    public let treeWeights: [Double]
    let nodes: [Node]
    let root: Int
    /// Nesting depth of sums below the root (scratch buffers a computation needs).
    let height: Int

    /// The layout of `forest` (its task, output width and tree weights).
    public init(_ forest: RandomForest) {
        // A forest's weights are valid by construction; the throwing init only rejects empty ones.
        self.init(validTask: forest.task, outputWidth: forest.outputWidth, treeWeights: forest.treeWeights)
    }

    /// The layout of a forest with these tree weights (what a slice carries instead of the trees).
    public init(task: TaskKind, outputWidth: Int, treeWeights: [Double]) throws {
        guard !treeWeights.isEmpty, outputWidth >= 1, task == .classification || outputWidth == 1 else {
            throw ForestError(.invalidData, "a scoring layout needs at least one tree and one output")
        }
        self.init(validTask: task, outputWidth: outputWidth, treeWeights: treeWeights)
    }

    private init(validTask task: TaskKind, outputWidth: Int, treeWeights: [Double]) {
        self.task = task
        self.outputWidth = outputWidth
        treeCount = treeWeights.count
        self.treeWeights = treeWeights
        var nodes: [Node] = []
        func pairwise(_ items: ArraySlice<Int>) -> Int {
            if items.count == 1 { return items.first! }
            let mid = items.startIndex + (items.count + 1) / 2
            let l = pairwise(items[..<mid])
            let r = pairwise(items[mid...])
            nodes.append(Node(trees: nodes[l].trees.lowerBound..<nodes[r].trees.upperBound, left: l, right: r, transform: .none))
            return nodes.count - 1
        }
        var runs: [Range<Int>] = []
        var start = 0
        for t in 1...treeWeights.count where t == treeWeights.count || treeWeights[t] != treeWeights[start] {
            runs.append(start..<t)
            start = t
        }
        var runNodes: [Int] = []
        for run in runs {
            let k = min(run.count, Self.segmentsPerRun)
            let base = run.count / k
            let extra = run.count % k
            var segments: [Int] = []
            var lo = run.lowerBound
            for s in 0..<k {
                let hi = lo + base + (s < extra ? 1 : 0)
                nodes.append(Node(trees: lo..<hi, left: -1, right: -1, transform: .none))
                segments.append(nodes.count - 1)
                lo = hi
            }
            let top = pairwise(segments[...])
            let count = Double(run.count)
            let transform: Transform =
                runs.count == 1
                ? .divide(count) : .divideAndScale(count, treeWeights[run.lowerBound] * count)
            nodes.append(Node(trees: run, left: top, right: -1, transform: transform))
            runNodes.append(nodes.count - 1)
        }
        var root = pairwise(runNodes[...])
        if runs.count > 1 && task == .classification {
            nodes.append(Node(trees: 0..<treeWeights.count, left: root, right: -1, transform: .normalize))
            root = nodes.count - 1
        }
        self.nodes = nodes
        self.root = root
        func depth(_ n: Int) -> Int {
            let node = nodes[n]
            if node.isSegment { return 0 }
            return max(depth(node.left), node.right < 0 ? 0 : 1 + depth(node.right))
        }
        height = depth(root)
    }

    /// Tree indices where a slice may begin or end (segment boundaries), ascending, from 0 to `treeCount`.
    public var boundaries: [Int] {
        [0] + nodes.filter(\.isSegment).map(\.trees.upperBound).sorted()
    }

    /// About `count` contiguous slices of about equal tree counts, on segment boundaries,
    /// covering every tree in order (fewer when the forest has fewer segments).
    public func slices(count: Int) -> [Range<Int>] {
        let b = boundaries
        let n = max(1, min(count, b.count - 1))
        var cuts = [0]
        for i in 1..<n {
            let target = Double(treeCount) * Double(i) / Double(n)
            guard let best = b.min(by: { abs(Double($0) - target) < abs(Double($1) - target) }),
                best > cuts.last!, best < treeCount
            else { continue }
            cuts.append(best)
        }
        cuts.append(treeCount)
        return (0..<(cuts.count - 1)).map { cuts[$0]..<cuts[$0 + 1] }
    }

    /// The largest nodes inside `slice`, in tree order: the partial sums a slice's scorer
    /// returns (opaque node identifiers, meaningful with this layout). Throws when the
    /// slice is empty, outside the forest, or does not begin and end on ``boundaries``.
    public func pieces(covering slice: Range<Int>) throws -> [Int] {
        guard !slice.isEmpty, slice.lowerBound >= 0, slice.upperBound <= treeCount else {
            throw ForestError(.invalidData, "tree slice \(slice) is not within the forest's \(treeCount) trees")
        }
        var out: [Int] = []
        var aligned = true
        func visit(_ n: Int) {
            let node = nodes[n]
            if node.trees.upperBound <= slice.lowerBound || node.trees.lowerBound >= slice.upperBound { return }
            if slice.lowerBound <= node.trees.lowerBound && node.trees.upperBound <= slice.upperBound {
                out.append(n)
                return
            }
            if node.isSegment {
                aligned = false
                return
            }
            visit(node.left)
            if node.right >= 0 { visit(node.right) }
        }
        visit(root)
        guard aligned else {
            throw ForestError(
                .invalidData, "tree slice \(slice) does not begin and end on a segment boundary of the forest's scoring layout")
        }
        return out
    }

    /// The trees a piece (a node from ``pieces(covering:)``) sums.
    public func trees(ofPiece piece: Int) -> Range<Int> { nodes[piece].trees }

    /// Checks that `pieces` are nodes of this layout that cover every tree exactly once
    /// (what ``combine(pieces:values:stride:rows:into:)`` needs).
    public func checkCover(_ pieces: [Int]) throws {
        guard pieces.allSatisfy({ $0 >= 0 && $0 < nodes.count }) else {
            throw ForestError(.invalidData, "a partial sum names no node of the scoring layout")
        }
        let given = Set(pieces)
        guard given.count == pieces.count else { throw ForestError(.invalidData, "a partial sum is given twice") }
        var used = 0
        func covered(_ n: Int) -> Bool {
            if given.contains(n) {
                used += 1
                return true
            }
            let node = nodes[n]
            if node.isSegment { return false }
            return covered(node.left) && (node.right < 0 || covered(node.right))
        }
        guard covered(root) else {
            throw ForestError(.invalidData, "the partial sums do not cover all \(treeCount) trees")
        }
        guard used == pieces.count else { throw ForestError(.invalidData, "the partial sums overlap") }
    }

    /// Computes node `n` for `m` rows into `out` (`m × outputWidth` values). `scratch`
    /// holds `height × m × outputWidth` values. A node `given` returns is taken as it is
    /// (its values, `m × outputWidth`); a segment that is not given is computed by `segment`
    /// (which must write every value of `out`).
    @inline(__always)
    func compute(
        _ n: Int, rows m: Int, into out: UnsafeMutablePointer<Double>, scratch: UnsafeMutablePointer<Double>,
        given: (Int) -> UnsafePointer<Double>?, segment: (Range<Int>, UnsafeMutablePointer<Double>) -> Void
    ) {
        let count = m * outputWidth
        if let values = given(n) {
            out.update(from: values, count: count)
            return
        }
        let node = nodes[n]
        if node.isSegment {
            segment(node.trees, out)
            return
        }
        compute(node.left, rows: m, into: out, scratch: scratch, given: given, segment: segment)
        if node.right >= 0 {
            compute(node.right, rows: m, into: scratch, scratch: scratch + count, given: given, segment: segment)
            for i in 0..<count { out[i] = out[i] + scratch[i] }
        }
        switch node.transform {
        case .none: break
        case .divide(let c): for i in 0..<count { out[i] = out[i] / c }
        case .divideAndScale(let c, let s): for i in 0..<count { out[i] = out[i] / c * s }
        case .normalize:
            for r in 0..<m { RandomForest.normalize(UnsafeMutableBufferPointer(start: out + r * outputWidth, count: outputWidth)) }
        }
    }

    /// Adds partial sums into the forest's predictions: `pieces[j]`'s values for row `r` are
    /// `values[r * stride + offsets[j] ..< … + outputWidth]`; writes `rows × outputWidth`
    /// values to `out`. Bit-identical to ``RandomForest/predict(binned:threads:)`` when the
    /// pieces are a slicing's (``checkCover(_:)`` must have accepted them).
    public func combine(
        pieces: [Int], values: [UnsafePointer<Double>], strides: [Int], rows: Int,
        into out: UnsafeMutablePointer<Double>
    ) {
        precondition(pieces.count == values.count && pieces.count == strides.count)
        var slot = [Int](repeating: -1, count: nodes.count)
        for (j, p) in pieces.enumerated() { slot[p] = j }
        let C = outputWidth
        let scratch = UnsafeMutablePointer<Double>.allocate(capacity: max(1, height * C))
        defer { scratch.deallocate() }
        for r in 0..<rows {
            compute(
                root, rows: 1, into: out + r * C, scratch: scratch,
                given: { n in
                    let j = slot[n]
                    return j < 0 ? nil : values[j] + r * strides[j]
                },
                segment: { trees, o in
                    // Unreachable after checkCover: a missing segment contributes nothing.
                    o.update(repeating: 0, count: C)
                })
        }
    }
}
