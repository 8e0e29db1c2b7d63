import SpaceTime

/// One classification tree as flat node arrays (no object per node).
///
/// Node `i` is a leaf when `feature[i] < 0`; then `child[i]` is its leaf index and its
/// class probabilities are `leafValues[child[i] * classCount ..< (child[i] + 1) * classCount]`.
/// Otherwise rows with `x[feature[i]] <= threshold[i]` (equivalently
/// `bin <= thresholdBin[i]`) go to `child[i]`, the others (and missing values) to
/// `child[i] + 1`. Node 0 is the root; nodes are in depth-first order.
public struct Tree: Sendable, Equatable {
    public let classCount: Int
    public let featureCount: Int
    public internal(set) var feature: [Int32]
    public internal(set) var thresholdBin: [UInt8]
    public internal(set) var threshold: [Double]
    public internal(set) var child: [Int32]
    public internal(set) var leafValues: [Float]
    /// Total weighted impurity decrease per feature (unnormalised).
    public internal(set) var importances: [Double]
    /// Longest root-to-leaf path, in edges.
    public internal(set) var depth: Int

    public var nodeCount: Int { feature.count }
    public var leafCount: Int { leafValues.count / max(classCount, 1) }

    init(classCount: Int, featureCount: Int) {
        self.classCount = classCount
        self.featureCount = featureCount
        feature = []; thresholdBin = []; threshold = []; child = []; leafValues = []
        importances = Array(repeating: 0, count: featureCount)
        depth = 0
    }

    /// The leaf index reached by a raw (prepared) row.
    @inline(__always)
    public func leaf(raw row: UnsafeBufferPointer<Double>) -> Int {
        var i = 0
        while true {
            let f = feature[i]
            if f < 0 { return Int(child[i]) }
            i = Int(child[i]) + (row[Int(f)] <= threshold[i] ? 0 : 1)
        }
    }

    /// Adds `weight` × leaf probabilities to `out` for each of `rowCount` raw row-major rows
    /// of width `width` (`out` is row-major, `classCount` per row). One tree, many rows:
    /// the tree's arrays stay in cache.
    @inline(__always)
    func accumulate(rawRows rows: UnsafePointer<Double>, rowCount: Int, width: Int, weight: Double,
                    into out: UnsafeMutablePointer<Double>) {
        let C = classCount
        feature.withUnsafeBufferPointer { feature in
        threshold.withUnsafeBufferPointer { threshold in
        child.withUnsafeBufferPointer { child in
        leafValues.withUnsafeBufferPointer { values in
            for r in 0..<rowCount {
                let row = rows + r * width
                var i = 0
                while true {
                    let f = feature[i]
                    if f < 0 { break }
                    i = Int(child[i]) + (row[Int(f)] <= threshold[i] ? 0 : 1)
                }
                let base = Int(child[i]) * C
                let o = out + r * C
                for c in 0..<C { o[c] += weight * Double(values[base + c]) }
            }
        }}}}
    }

    /// Adds `weight` × leaf probabilities to `out` (row-major) for rows `rows` of a
    /// column-major binned partition with `rowCount` rows.
    @inline(__always)
    func accumulate(binned bins: UnsafePointer<UInt8>, rowCount: Int, rows: Range<Int>, weight: Double,
                    into out: UnsafeMutablePointer<Double>) {
        let C = classCount
        feature.withUnsafeBufferPointer { feature in
        thresholdBin.withUnsafeBufferPointer { thresholdBin in
        child.withUnsafeBufferPointer { child in
        leafValues.withUnsafeBufferPointer { values in
            for r in rows {
                var i = 0
                while true {
                    let f = feature[i]
                    if f < 0 { break }
                    i = Int(child[i]) + (bins[Int(f) &* rowCount &+ r] <= thresholdBin[i] ? 0 : 1)
                }
                let base = Int(child[i]) * C
                let o = out + r * C
                for c in 0..<C { o[c] += weight * Double(values[base + c]) }
            }
        }}}}
    }

    /// The leaf index reached by row `row` of a binned partition.
    @inline(__always)
    public func leaf(binned bins: UnsafeBufferPointer<UInt8>, rowCount: Int, row: Int) -> Int {
        var i = 0
        while true {
            let f = feature[i]
            if f < 0 { return Int(child[i]) }
            i = Int(child[i]) + (bins[Int(f) * rowCount + row] <= thresholdBin[i] ? 0 : 1)
        }
    }

    func write(to w: inout ByteWriter) {
        w.write(UInt32(classCount)); w.write(UInt32(featureCount)); w.write(UInt32(depth))
        w.write(array: feature); w.write(array: thresholdBin); w.writeBitPatterns(threshold)
        w.write(array: child); w.writeBitPatterns(leafValues); w.writeBitPatterns(importances)
    }

    /// The number of bytes `write(to:)` appends.
    var serializedSize: Int {
        12 + 6 * 8 + nodeCount * (4 + 1 + 8 + 4) + leafValues.count * 4 + importances.count * 8
    }

    /// Feeds exactly the bytes `write(to:)` appends to `hasher`, without building them.
    func hash(into hasher: inout XXHash64) {
        guard Int(1).littleEndian == 1 else {
            var w = ByteWriter(capacity: serializedSize)
            write(to: &w)
            hasher.update(w.bytes)
            return
        }
        hasher.update(integer: UInt32(classCount)); hasher.update(integer: UInt32(featureCount)); hasher.update(integer: UInt32(depth))
        func add<T: BitwiseCopyable>(_ array: [T]) {
            hasher.update(integer: UInt64(array.count))
            array.withUnsafeBytes { hasher.update($0) }
        }
        add(feature); add(thresholdBin); add(threshold); add(child); add(leafValues); add(importances)
    }

    static func read(from r: inout ByteReader) throws -> Tree {
        let classes = Int(try r.read(UInt32.self)), features = Int(try r.read(UInt32.self))
        var t = Tree(classCount: classes, featureCount: features)
        t.depth = Int(try r.read(UInt32.self))
        t.feature = try r.readArray(Int32.self)
        t.thresholdBin = try r.readArray(UInt8.self)
        t.threshold = try r.readDoubles()
        t.child = try r.readArray(Int32.self)
        t.leafValues = try r.readFloats()
        t.importances = try r.readDoubles()
        try t.validate(context: r.context)
        return t
    }

    /// Checks the structure so that traversal of a decoded tree cannot go out of bounds or loop.
    func validate(context: String) throws {
        let n = feature.count
        func bad(_ why: String) -> ForestError { ForestError(.corrupted, "\(context): invalid tree (\(why))") }
        guard classCount >= 1, n >= 1, thresholdBin.count == n, threshold.count == n, child.count == n,
              importances.count == featureCount, leafValues.count % classCount == 0 else { throw bad("array sizes") }
        let leaves = leafValues.count / classCount
        for i in 0..<n {
            let f = Int(feature[i]), c = Int(child[i])
            if f < 0 {
                guard c >= 0 && c < leaves else { throw bad("leaf index \(c) at node \(i)") }
            } else {
                guard f < featureCount, c > i, c + 1 < n else { throw bad("child \(c) of node \(i)") }
            }
        }
    }

    /// Canonical bytes of this tree (checkpoints, wire, fingerprint).
    public func serialize() -> [UInt8] {
        var w = ByteWriter(capacity: serializedSize)
        write(to: &w)
        return w.bytes
    }

    public init(deserializing bytes: [UInt8]) throws {
        var r = ByteReader(bytes, context: "tree")
        self = try Self.read(from: &r)
        try r.expectEnd()
    }
}

extension ByteWriter {
    /// Writes `values` exactly as `write(array:)` does (length, then each
    /// value's IEEE-754 bits, little-endian), copying in bulk.
    mutating func writeBitPatterns(_ values: [Double]) {
        guard Int(1).littleEndian == 1 else { return write(array: values) }
        write(array: values.withUnsafeBufferPointer { $0.withMemoryRebound(to: UInt64.self) { Array($0) } })
    }

    mutating func writeBitPatterns(_ values: [Float]) {
        guard Int(1).littleEndian == 1 else { return write(array: values) }
        write(array: values.withUnsafeBufferPointer { $0.withMemoryRebound(to: UInt32.self) { Array($0) } })
    }
}
