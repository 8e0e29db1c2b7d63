import Dispatch

/// A random forest: trees with weights summing to 1. `predictProba` is the weighted
/// average of the trees' leaf probabilities; a single-partition forest weighs every tree
/// 1/T, a merged forest weighs each sub-forest by its partition's training rows.
public struct RandomForest: Sendable, Equatable {
    public let classCount: Int
    public let featureCount: Int
    public let trees: [Tree]
    /// Per-tree weight; non-negative, sums to 1.
    public let treeWeights: [Double]

    /// A forest whose trees weigh equally.
    public init(trees: [Tree]) throws {
        guard let first = trees.first else { throw ForestError(.invalidData, "a forest needs at least one tree") }
        try self.init(classCount: first.classCount, featureCount: first.featureCount, trees: trees,
                      treeWeights: Array(repeating: 1 / Double(trees.count), count: trees.count))
    }

    init(classCount: Int, featureCount: Int, trees: [Tree], treeWeights: [Double]) throws {
        guard !trees.isEmpty, trees.count == treeWeights.count,
              trees.allSatisfy({ $0.classCount == classCount && $0.featureCount == featureCount }) else {
            throw ForestError(.incompatible, "trees disagree on class or feature count")
        }
        self.classCount = classCount
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
    /// Sub-forest `p` contributes `rows_p / Σ rows` of the probability mass, shared equally
    /// by its trees. Sub-forests without trees are skipped.
    public static func merge(_ parts: [SubForest]) throws -> RandomForest {
        let used = parts.filter { !$0.trees.isEmpty }
        guard let first = used.first?.trees.first else { throw ForestError(.invalidData, "no trees to merge") }
        let totalRows = used.reduce(0.0) { $0 + Double(max($1.trainingRows, 0)) }
        guard totalRows > 0 else { throw ForestError(.invalidData, "sub-forests report no training rows") }
        var trees: [Tree] = [], weights: [Double] = []
        for p in used {
            let w = Double(max(p.trainingRows, 0)) / totalRows / Double(p.trees.count)
            trees += p.trees
            weights += Array(repeating: w, count: p.trees.count)
        }
        return try RandomForest(classCount: first.classCount, featureCount: first.featureCount, trees: trees, treeWeights: weights)
    }

    /// Class probabilities of one raw (prepared) row, written to `out` (count = classCount).
    public func predictProba(raw row: UnsafeBufferPointer<Double>, into out: UnsafeMutableBufferPointer<Double>) {
        for c in 0..<classCount { out[c] = 0 }
        for (t, tree) in trees.enumerated() {
            let base = tree.leaf(raw: row) * classCount
            let w = treeWeights[t]
            for c in 0..<classCount { out[c] += w * Double(tree.leafValues[base + c]) }
        }
        Self.normalize(out)
    }

    /// Rescales to sum exactly-as-possible 1 (removes float drift of the weighted average).
    @inline(__always)
    static func normalize(_ p: UnsafeMutableBufferPointer<Double>) {
        var s = 0.0
        for x in p { s += x }
        guard s > 0 else { return }
        for i in p.indices { p[i] /= s }
    }

    /// Class probabilities of `rowCount` raw (prepared) row-major rows of width
    /// `featureCount`, written row-major to `out` (`rowCount * classCount`). Trees outer,
    /// rows inner; each row sums its trees in tree order (same result as one row at a time).
    public func predictProba(rawRows rows: UnsafeBufferPointer<Double>, rowCount: Int, into out: UnsafeMutableBufferPointer<Double>) {
        precondition(rows.count >= rowCount * featureCount && out.count >= rowCount * classCount)
        guard rowCount > 0, let input = rows.baseAddress, let output = out.baseAddress else { return }
        output.update(repeating: 0, count: rowCount * classCount)
        for t in trees.indices {
            trees[t].accumulate(rawRows: input, rowCount: rowCount, width: featureCount, weight: treeWeights[t], into: output)
        }
        for r in 0..<rowCount { Self.normalize(UnsafeMutableBufferPointer(start: output + r * classCount, count: classCount)) }
    }

    public func predictProba(raw row: [Double]) -> [Double] {
        var out = [Double](repeating: 0, count: classCount)
        row.withUnsafeBufferPointer { r in out.withUnsafeMutableBufferPointer { predictProba(raw: r, into: $0) } }
        return out
    }

    /// Class probabilities of every row of a binned partition, row-major (`rowCount * classCount`).
    /// Rows are split into chunks over `threads` threads; each row sums its trees in order,
    /// so the result does not depend on the thread count.
    ///
    /// Each chunk's bins are first copied row-major (a row's bins share a cache line)
    /// and each tree is walked through a packed copy of its nodes (one 8-byte load per
    /// node); the arithmetic and its order are those of ``Tree/leaf(binned:rowCount:row:)``
    /// plus a weighted sum in tree order.
    public func predictProba(binned partition: BinnedPartition, threads: Int = 1) -> [Double] {
        let n = partition.rowCount, C = classCount, F = featureCount
        var out = [Double](repeating: 0, count: n * C)
        guard n > 0 else { return out }
        let packed = PackedTrees(trees)
        let chunk = 2048
        let chunks = (n + chunk - 1) / chunk
        out.withUnsafeMutableBufferPointer { outBuffer in
            let result = SendablePointer(outBuffer.baseAddress)
            partition.bins.withUnsafeBufferPointer { bins in
                let binsPointer = SendableBuffer(bins)
                let work: @Sendable (Int) -> Void = { ci in
                    let lo = ci * chunk, hi = min(n, lo + chunk)
                    guard let o = result.pointer, let b = binsPointer.buffer.baseAddress else { return }
                    if let packed {
                        let rows = UnsafeMutablePointer<UInt8>.allocate(capacity: (hi - lo) * max(F, 1))
                        defer { rows.deallocate() }
                        for f in 0..<F {
                            let column = b + f * n
                            for r in lo..<hi { rows[(r - lo) * F + f] = column[r] }
                        }
                        for t in trees.indices {
                            packed.accumulate(tree: t, rows: rows, width: F, count: hi - lo, weight: treeWeights[t],
                                              leafValues: trees[t].leafValues, classCount: C, into: o + lo * C)
                        }
                    } else {
                        for t in trees.indices {
                            trees[t].accumulate(binned: b, rowCount: n, rows: lo..<hi, weight: treeWeights[t], into: o)
                        }
                    }
                    for r in lo..<hi { RandomForest.normalize(UnsafeMutableBufferPointer(start: o + r * C, count: C)) }
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
        w.write(UInt32(classCount)); w.write(UInt32(featureCount)); w.write(UInt32(trees.count))
        w.writeBitPatterns(treeWeights)
    }

    /// The number of bytes `write(to:)` appends.
    var serializedSize: Int { 12 + 8 + treeWeights.count * 8 + trees.reduce(0) { $0 + $1.serializedSize } }

    static func read(from r: inout ByteReader) throws -> RandomForest {
        let classes = Int(try r.read(UInt32.self)), features = Int(try r.read(UInt32.self))
        let count = Int(try r.read(UInt32.self))
        let weights = try r.readDoubles()
        guard weights.count == count else { throw ForestError(.corrupted, "\(r.context): tree weight count") }
        var trees: [Tree] = []
        trees.reserveCapacity(count)
        for _ in 0..<count { trees.append(try Tree.read(from: &r)) }
        do {
            return try RandomForest(classCount: classes, featureCount: features, trees: trees, treeWeights: weights)
        } catch {
            throw ForestError(.corrupted, "\(r.context): \(error)")
        }
    }
}

struct SendablePointer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Double>?
    init(_ p: UnsafeMutablePointer<Double>?) { pointer = p }
}

struct SendableBuffer: @unchecked Sendable {
    let buffer: UnsafeBufferPointer<UInt8>
    init(_ b: UnsafeBufferPointer<UInt8>) { buffer = b }
}

/// Every tree's nodes packed into one `UInt64` each, for binned prediction:
/// bits 0–7 the threshold bin, 8–31 the feature + 1 (0 for a leaf), 32–63 the
/// child (left child of a split, leaf index of a leaf). Nil when a feature
/// index does not fit 24 bits.
struct PackedTrees: @unchecked Sendable {
    let nodes: [UInt64]
    let offsets: [Int]

    init?(_ trees: [Tree]) {
        var nodes: [UInt64] = []
        nodes.reserveCapacity(trees.reduce(0) { $0 + $1.nodeCount })
        var offsets: [Int] = []
        offsets.reserveCapacity(trees.count)
        for tree in trees {
            offsets.append(nodes.count)
            for i in 0..<tree.nodeCount {
                let f = tree.feature[i]
                guard f < (1 << 24) - 1 else { return nil }
                let featureField: UInt64 = f < 0 ? 0 : UInt64(f + 1)
                nodes.append(UInt64(tree.thresholdBin[i]) | featureField << 8 | UInt64(UInt32(bitPattern: tree.child[i])) << 32)
            }
        }
        self.nodes = nodes
        self.offsets = offsets
    }

    /// Adds `weight` × leaf probabilities of tree `t` to `out` (row-major, `classCount`
    /// per row) for `count` row-major binned rows of `width` bins.
    @inline(__always)
    func accumulate(tree t: Int, rows: UnsafePointer<UInt8>, width: Int, count: Int, weight: Double,
                    leafValues: [Float], classCount C: Int, into out: UnsafeMutablePointer<Double>) {
        nodes.withUnsafeBufferPointer { all in
        leafValues.withUnsafeBufferPointer { values in
            let tree = all.baseAddress! + offsets[t]
            @inline(__always) func feature(_ node: UInt64) -> Int { Int((node >> 8) & 0xFF_FFFF) }
            @inline(__always) func next(_ node: UInt64, _ row: UnsafePointer<UInt8>, _ f: Int) -> UInt64 {
                tree[Int(UInt32(truncatingIfNeeded: node >> 32)) + (row[f - 1] <= UInt8(truncatingIfNeeded: node) ? 0 : 1)]
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
                let row0 = rows + r * width, row1 = row0 + width, row2 = row1 + width, row3 = row2 + width
                var n0 = tree[0], n1 = n0, n2 = n0, n3 = n0
                while true {
                    let f0 = feature(n0), f1 = feature(n1), f2 = feature(n2), f3 = feature(n3)
                    if f0 | f1 | f2 | f3 == 0 { break }
                    if f0 != 0 { n0 = next(n0, row0, f0) }
                    if f1 != 0 { n1 = next(n1, row1, f1) }
                    if f2 != 0 { n2 = next(n2, row2, f2) }
                    if f3 != 0 { n3 = next(n3, row3, f3) }
                }
                add(n0, r); add(n1, r + 1); add(n2, r + 2); add(n3, r + 3)
                r += 4
            }
            while r < count {
                let row = rows + r * width
                var node = tree[0]
                while true {
                    let f = feature(node)
                    if f == 0 { break }
                    node = next(node, row, f)
                }
                add(node, r)
                r += 1
            }
        }}
    }
}
