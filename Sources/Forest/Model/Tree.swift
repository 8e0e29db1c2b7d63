import SpaceTime

/// One tree as flat node arrays (no object per node), split on bins.
///
/// Node `i` is a leaf when `feature[i] < 0`; then `child[i]` is its leaf index and its
/// values are `leafValues[child[i] * outputWidth ..< (child[i] + 1) * outputWidth]`
/// (class probabilities, or the mean target). Otherwise a row goes to `child[i]` when
/// ``goesLeft(node:bin:)`` holds for its bin of `feature[i]`, else to `child[i] + 1`:
/// - numeric node: `bin <= split[i]` (a threshold bin), and a missing value
///   (``FeatureExtractor/missingBin``) goes left iff ``missingGoesLeft`` is set in `flags[i]`;
/// - categorical node (``categoricalSplit`` set): the bin is in the node's level set,
///   the 256-bit set `levelSets[split[i] * 4 ..< split[i] * 4 + 4]` (bit 255: missing).
/// Node 0 is the root; nodes are in depth-first order.
public struct Tree: Sendable, Equatable {
    /// Flag bit: missing values go to the left child.
    public static let missingGoesLeft: UInt8 = 1
    /// Flag bit: the node splits on a level set.
    public static let categoricalSplit: UInt8 = 2

    /// Values per leaf: the class count, or 1 for regression.
    public let outputWidth: Int
    public let featureCount: Int
    public internal(set) var feature: [Int32]
    public internal(set) var split: [UInt32]
    public internal(set) var flags: [UInt8]
    public internal(set) var child: [Int32]
    public internal(set) var levelSets: [UInt64]
    public internal(set) var leafValues: [Float]
    /// Total weighted impurity decrease per feature (unnormalised).
    public internal(set) var importances: [Double]
    /// Longest root-to-leaf path, in edges.
    public internal(set) var depth: Int

    public var nodeCount: Int { feature.count }
    public var leafCount: Int { leafValues.count / max(outputWidth, 1) }

    init(outputWidth: Int, featureCount: Int) {
        self.outputWidth = outputWidth
        self.featureCount = featureCount
        feature = []; split = []; flags = []; child = []; levelSets = []; leafValues = []
        importances = Array(repeating: 0, count: featureCount)
        depth = 0
    }

    /// Whether a row whose bin of `feature[node]` is `bin` goes to the left child.
    @inline(__always)
    public func goesLeft(node i: Int, bin b: UInt8) -> Bool {
        let f = flags[i]
        if f & Self.categoricalSplit != 0 {
            return levelSets[Int(split[i]) &* 4 &+ Int(b >> 6)] >> UInt64(b & 63) & 1 != 0
        }
        return UInt32(b) <= split[i] || (b == FeatureExtractor.missingBin && f & Self.missingGoesLeft != 0)
    }

    /// The level set of categorical node `i` as bins (255 = missing).
    public func levelSet(node i: Int) -> [Int] {
        let base = Int(split[i]) * 4
        return (0..<256).filter { levelSets[base + $0 >> 6] >> UInt64($0 & 63) & 1 != 0 }
    }

    /// The leaf index reached by row `row` of a column-major binned partition with `rowCount` rows.
    @inline(__always)
    public func leaf(binned bins: UnsafeBufferPointer<UInt8>, rowCount: Int, row: Int) -> Int {
        var i = 0
        while true {
            let f = feature[i]
            if f < 0 { return Int(child[i]) }
            i = Int(child[i]) + (goesLeft(node: i, bin: bins[Int(f) * rowCount + row]) ? 0 : 1)
        }
    }

    public func write(to w: inout ByteWriter) {
        w.write(UInt32(outputWidth)); w.write(UInt32(featureCount)); w.write(UInt32(depth))
        w.write(array: feature); w.write(array: split); w.write(array: flags); w.write(array: child)
        w.write(array: levelSets); w.writeBitPatterns(leafValues); w.writeBitPatterns(importances)
    }

    /// The number of bytes `write(to:)` appends.
    var serializedSize: Int {
        12 + 7 * 8 + nodeCount * (4 + 4 + 1 + 4) + levelSets.count * 8 + leafValues.count * 4 + importances.count * 8
    }

    /// Feeds exactly the bytes `write(to:)` appends to `hasher`, without building them.
    func hash(into hasher: inout XXHash64) {
        guard Int(1).littleEndian == 1 else {
            var w = ByteWriter(capacity: serializedSize)
            write(to: &w)
            hasher.update(w.bytes)
            return
        }
        hasher.update(integer: UInt32(outputWidth)); hasher.update(integer: UInt32(featureCount)); hasher.update(integer: UInt32(depth))
        func add<T: BitwiseCopyable>(_ array: [T]) {
            hasher.update(integer: UInt64(array.count))
            array.withUnsafeBytes { hasher.update($0) }
        }
        add(feature); add(split); add(flags); add(child); add(levelSets); add(leafValues); add(importances)
    }

    public static func read(from r: inout ByteReader) throws -> Tree {
        let width = Int(try r.read(UInt32.self)), features = Int(try r.read(UInt32.self))
        var t = Tree(outputWidth: width, featureCount: features)
        t.depth = Int(try r.read(UInt32.self))
        t.feature = try r.readArray(Int32.self)
        t.split = try r.readArray(UInt32.self)
        t.flags = try r.readArray(UInt8.self)
        t.child = try r.readArray(Int32.self)
        t.levelSets = try r.readArray(UInt64.self)
        t.leafValues = try r.readFloats()
        t.importances = try r.readDoubles()
        try t.validate(context: r.context)
        return t
    }

    /// Checks the structure so that traversal of a decoded tree cannot go out of bounds or loop.
    func validate(context: String) throws {
        let n = feature.count
        func bad(_ why: String) -> ForestError { ForestError(.corrupted, "\(context): invalid tree (\(why))") }
        guard outputWidth >= 1, n >= 1, split.count == n, flags.count == n, child.count == n,
              importances.count == featureCount, leafValues.count % outputWidth == 0, levelSets.count % 4 == 0 else {
            throw bad("array sizes")
        }
        let leaves = leafValues.count / outputWidth, sets = levelSets.count / 4
        for i in 0..<n {
            let f = Int(feature[i]), c = Int(child[i])
            if f < 0 {
                guard c >= 0 && c < leaves else { throw bad("leaf index \(c) at node \(i)") }
            } else {
                guard f < featureCount, c > i, c + 1 < n else { throw bad("child \(c) of node \(i)") }
                if flags[i] & Self.categoricalSplit != 0 {
                    guard Int(split[i]) < sets else { throw bad("level set \(split[i]) at node \(i)") }
                } else {
                    guard split[i] < UInt32(FeatureExtractor.missingBin) else { throw bad("threshold bin \(split[i]) at node \(i)") }
                }
            }
        }
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

extension Tree: ByteCodable {
    public static var byteContext: String { "tree" }
    public var encodedSizeHint: Int { serializedSize }
}
