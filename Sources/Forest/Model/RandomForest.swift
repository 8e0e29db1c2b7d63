import Dispatch
import SpaceTime

/// A random forest: trees with weights summing to 1. A prediction is the weighted
/// average of the trees' leaf values — class probabilities (renormalised to sum 1) for
/// classification, the mean target for regression. A single-partition forest weighs every
/// tree 1/T, a merged forest weighs each sub-forest by its partition's training rows.
public struct RandomForest: Sendable, Equatable {
    public let task: TaskKind
    /// Values per prediction: the class count, or 1.
    public let outputWidth: Int
    public let featureCount: Int
    public let trees: [Tree]
    /// Per-tree weight; non-negative, sums to 1.
    public let treeWeights: [Double]

    /// Classes of a classification forest (its output width).
    public var classCount: Int { outputWidth }

    /// A forest whose trees weigh equally.
    public init(task: TaskKind, trees: [Tree]) throws {
        guard let first = trees.first else { throw ForestError(.invalidData, "a forest needs at least one tree") }
        try self.init(
            task: task, outputWidth: first.outputWidth, featureCount: first.featureCount, trees: trees,
            treeWeights: Array(repeating: 1 / Double(trees.count), count: trees.count))
    }

    init(task: TaskKind, outputWidth: Int, featureCount: Int, trees: [Tree], treeWeights: [Double]) throws {
        guard !trees.isEmpty, trees.count == treeWeights.count,
            trees.allSatisfy({ $0.outputWidth == outputWidth && $0.featureCount == featureCount }),
            task == .classification || outputWidth == 1
        else {
            throw ForestError(.incompatible, "trees disagree on output width or feature count")
        }
        self.task = task
        self.outputWidth = outputWidth
        self.featureCount = featureCount
        self.trees = trees
        self.treeWeights = treeWeights
    }

    /// One partition's trees and the number of training rows it had.
    public struct SubForest: Sendable {
        public var trees: [Tree]
        public var trainingRows: Int
        public init(trees: [Tree], trainingRows: Int) {
            self.trees = trees
            self.trainingRows = trainingRows
        }
    }

    /// Merges sub-forests (in the order given: the coordinator passes partition order).
    /// Sub-forest `p` contributes `rows_p / Σ rows` of the prediction, shared equally
    /// by its trees. Sub-forests without trees are skipped.
    public static func merge(_ parts: [SubForest], task: TaskKind) throws -> RandomForest {
        let used = parts.filter { !$0.trees.isEmpty }
        guard let first = used.first?.trees.first else { throw ForestError(.invalidData, "no trees to merge") }
        let totalRows = used.reduce(0.0) { $0 + Double(max($1.trainingRows, 0)) }
        guard totalRows > 0 else { throw ForestError(.invalidData, "sub-forests report no training rows") }
        var trees: [Tree] = []
        var weights: [Double] = []
        for p in used {
            let w = Double(max(p.trainingRows, 0)) / totalRows / Double(p.trees.count)
            trees += p.trees
            weights += Array(repeating: w, count: p.trees.count)
        }
        return try RandomForest(
            task: task, outputWidth: first.outputWidth, featureCount: first.featureCount,
            trees: trees, treeWeights: weights)
    }

    /// Rescales to sum exactly-as-possible 1 (removes float drift of the weighted average).
    @inline(__always)
    static func normalize(_ p: UnsafeMutableBufferPointer<Double>) {
        var s = 0.0
        for x in p { s += x }
        guard s > 0 else { return }
        for i in p.indices { p[i] /= s }
    }

    /// Predictions for every row of a binned partition, row-major (`rowCount * outputWidth`).
    /// The trees' outputs are added in the fixed grouping of ``ForestScoringLayout`` (so
    /// the partial sums of any slicing, ``ForestSlice``, combine to the same bits). Rows are
    /// split into chunks over `threads` threads; the result does not depend on the thread count.
    ///
    /// Each chunk's bins are first copied row-major (a row's bins share a cache line)
    /// and each tree is walked in its stored form (``Tree/nodes``, one 8-byte load per
    /// node, no copy).
    public func predict(binned partition: BinnedPartition, threads: Int = 1) -> [Double] {
        let layout = ForestScoringLayout(self)
        return score(binned: partition, threads: threads, layout: layout, nodes: [layout.root], firstTree: 0)
    }

    /// Rows of `nodes.count × outputWidth` values: node `j` of `layout` at `j × outputWidth`
    /// of each row. This forest's tree `i` is the layout's tree `firstTree + i`; the nodes'
    /// segments must be among this forest's trees.
    func score(
        binned partition: BinnedPartition, threads: Int, layout: ForestScoringLayout, nodes: [Int],
        firstTree: Int
    ) -> [Double] {
        let n = partition.rowCount
        let C = outputWidth
        let F = featureCount
        let width = nodes.count * C
        var out = [Double](repeating: 0, count: n * width)
        guard n > 0 else { return out }
        let chunk = 2048
        let chunks = (n + chunk - 1) / chunk
        out.withUnsafeMutableBufferPointer { outBuffer in
            let result = SendablePointer(outBuffer.baseAddress)
            partition.bins.withUnsafeBufferPointer { bins in
                let binsPointer = SendableBuffer(bins)
                let work: @Sendable (Int) -> Void = { ci in
                    let lo = ci * chunk
                    let hi = min(n, lo + chunk)
                    let m = hi - lo
                    guard let o = result.pointer, let b = binsPointer.buffer.baseAddress else { return }
                    let rows = UnsafeMutablePointer<UInt8>.allocate(capacity: m * max(F, 1))
                    defer { rows.deallocate() }
                    for f in 0..<F {
                        let column = b + f * n
                        for r in lo..<hi { rows[(r - lo) * F + f] = column[r] }
                    }
                    // One buffer for a node's values (when rows hold several nodes), then the sums below it.
                    let scratch = UnsafeMutablePointer<Double>.allocate(capacity: (layout.height + 1) * m * C)
                    defer { scratch.deallocate() }
                    // A segment is the unweighted sum of its trees in order, from 0 (so T
                    // equal trees voting 3 of 100 give exactly 0.03 after the division by T).
                    let segment: (Range<Int>, UnsafeMutablePointer<Double>) -> Void = { range, target in
                        target.update(repeating: 0, count: m * C)
                        for t in range {
                            let i = t - firstTree
                            trees[i].accumulate(rows: rows, width: F, count: m, weight: 1, into: target)
                        }
                    }
                    if nodes.count == 1 {
                        layout.compute(nodes[0], rows: m, into: o + lo * width, scratch: scratch, given: { _ in nil }, segment: segment)
                    } else {
                        for (j, node) in nodes.enumerated() {
                            layout.compute(node, rows: m, into: scratch, scratch: scratch + m * C, given: { _ in nil }, segment: segment)
                            for r in 0..<m {
                                (o + (lo + r) * width + j * C).update(from: scratch + r * C, count: C)
                            }
                        }
                    }
                }
                if threads <= 1 || chunks <= 1 {
                    for ci in 0..<chunks { work(ci) }
                } else {
                    DispatchQueue.concurrentPerform(iterations: chunks, execute: work)
                }
            }
        }
        return out
    }

    /// The slice of trees `range` (on a boundary of ``ForestScoringLayout/boundaries`` at
    /// both ends) with what it needs to score its part of every prediction alone.
    public func slice(_ range: Range<Int>) throws -> ForestSlice {
        let layout = ForestScoringLayout(self)
        let pieces = try layout.pieces(covering: range)
        let forest = try RandomForest(
            task: task, outputWidth: outputWidth, featureCount: featureCount,
            trees: Array(trees[range]), treeWeights: Array(treeWeights[range]))
        return try ForestSlice(layout: layout, trees: range, forest: forest, pieces: pieces)
    }

    /// ``predict(binned:threads:)`` of a classification forest: class probabilities.
    public func predictProba(binned partition: BinnedPartition, threads: Int = 1) -> [Double] {
        predict(binned: partition, threads: threads)
    }

    /// The index of the largest probability (first on ties, like numpy's argmax).
    @inline(__always)
    public static func argmax(_ p: UnsafeBufferPointer<Double>) -> Int {
        var best = 0
        for c in 1..<p.count where p[c] > p[best] { best = c }
        return best
    }

    /// Impurity-based feature importances: each tree's decreases normalised to sum 1,
    /// then averaged with the tree weights (scikit-learn's `feature_importances_`).
    public var featureImportances: [Double] {
        var total = [Double](repeating: 0, count: featureCount)
        for (t, tree) in trees.enumerated() {
            let s = tree.importances.reduce(0, +)
            guard s > 0 else { continue }
            for f in 0..<featureCount { total[f] += treeWeights[t] * tree.importances[f] / s }
        }
        let s = total.reduce(0, +)
        return s > 0 ? total.map { $0 / s } : total
    }

    func write(to w: inout ByteWriter) {
        writeHeader(to: &w)
        for t in trees { t.write(to: &w) }
    }

    /// Everything `write(to:)` writes before the trees.
    func writeHeader(to w: inout ByteWriter) {
        w.write(task.rawValue)
        w.write(UInt32(outputWidth))
        w.write(UInt32(featureCount))
        w.write(UInt32(trees.count))
        w.writeBitPatterns(treeWeights)
    }

    /// The number of bytes `write(to:)` appends.
    var serializedSize: Int { 4 + 16 + 12 + 8 + treeWeights.count * 8 + trees.reduce(0) { $0 + $1.serializedSize } }

    static func read(from r: inout ByteReader) throws -> RandomForest {
        guard let task = TaskKind(rawValue: try r.readString()) else { throw ForestError(.corrupted, "\(r.context): unknown task") }
        let width = Int(try r.read(UInt32.self))
        let features = Int(try r.read(UInt32.self))
        let count = Int(try r.read(UInt32.self))
        let weights = try r.readDoubles()
        guard weights.count == count else { throw ForestError(.corrupted, "\(r.context): tree weight count") }
        var trees: [Tree] = []
        trees.reserveCapacity(count)
        for _ in 0..<count {
            trees.append(try Tree.read(from: &r))
            r.reportProgress()
        }
        do {
            return try RandomForest(task: task, outputWidth: width, featureCount: features, trees: trees, treeWeights: weights)
        } catch {
            throw ForestError(.corrupted, "\(r.context): \(error)")
        }
    }
}

struct SendablePointer: @unchecked Sendable {  // each thread writes its own disjoint rows of the buffer
    let pointer: UnsafeMutablePointer<Double>?
    init(_ p: UnsafeMutablePointer<Double>?) { pointer = p }
}

struct SendableBuffer: @unchecked Sendable {  // read-only while the threads that share it run
    let buffer: UnsafeBufferPointer<UInt8>
    init(_ b: UnsafeBufferPointer<UInt8>) { buffer = b }
}

extension Tree {
    /// Adds `weight` × the leaf values this tree gives `count` row-major binned rows of
    /// `width` bins to `out` (row-major, ``outputWidth`` per row), walking the stored
    /// node words (one 8-byte load per node; the decisions of ``goesLeft(node:bin:)``).
    @inline(__always)
    func accumulate(
        rows: UnsafePointer<UInt8>, width: Int, count: Int, weight: Double,
        into out: UnsafeMutablePointer<Double>
    ) {
        let C = outputWidth
        nodes.withUnsafeBufferPointer { all in
            leafValues.withUnsafeBufferPointer { values in
                categorical.withUnsafeBufferPointer { entries in
                    let tree = all.baseAddress!
                    @inline(__always) func feature(_ node: UInt64) -> Int { Int((node >> 8) & 0x3F_FFFF) }
                    /// The index of the next node for a row at a split node (word `node`).
                    @inline(__always) func next(_ node: UInt64, _ row: UnsafePointer<UInt8>, _ f: Int) -> Int {
                        let b = row[f - 1]
                        if node & (1 << 31) != 0 {
                            let entry = Int(UInt32(truncatingIfNeeded: node >> 32)) &* Tree.categoricalWords
                            let left = entries[entry &+ Int(b >> 6)] >> UInt64(b & 63) & 1 != 0
                            return Int(truncatingIfNeeded: entries[entry &+ 4]) + (left ? 0 : 1)
                        }
                        let o = UInt8(truncatingIfNeeded: node >> 30) & 1
                        let left = b &+ o <= UInt8(truncatingIfNeeded: node)
                        return Int(UInt32(truncatingIfNeeded: node >> 32)) + (left ? 0 : 1)
                    }
                    @inline(__always) func add(_ leaf: UInt64, _ r: Int) {
                        let base = Int(UInt32(truncatingIfNeeded: leaf >> 32)) * C
                        let o = out + r * C
                        for c in 0..<C { o[c] += weight * Double(values[base + c]) }
                    }
                    // Four rows walk the tree together: their node loads are independent, so
                    // their memory latencies overlap.
                    var r = 0
                    while r + 4 <= count {
                        let row0 = rows + r * width
                        let row1 = row0 + width
                        let row2 = row1 + width
                        let row3 = row2 + width
                        var n0 = tree[0]
                        var n1 = n0
                        var n2 = n0
                        var n3 = n0
                        while true {
                            let f0 = feature(n0)
                            let f1 = feature(n1)
                            let f2 = feature(n2)
                            let f3 = feature(n3)
                            if f0 | f1 | f2 | f3 == 0 { break }
                            if f0 != 0 { n0 = tree[next(n0, row0, f0)] }
                            if f1 != 0 { n1 = tree[next(n1, row1, f1)] }
                            if f2 != 0 { n2 = tree[next(n2, row2, f2)] }
                            if f3 != 0 { n3 = tree[next(n3, row3, f3)] }
                        }
                        add(n0, r)
                        add(n1, r + 1)
                        add(n2, r + 2)
                        add(n3, r + 3)
                        r += 4
                    }
                    while r < count {
                        let row = rows + r * width
                        var node = tree[0]
                        while true {
                            let f = feature(node)
                            if f == 0 { break }
                            node = tree[next(node, row, f)]
                        }
                        add(node, r)
                        r += 1
                    }
                }
            }
        }
    }
}
