import SpaceTime

/// One tree, stored in the form it is scored from: one 64-bit word per node, the level
/// sets of categorical splits, and the leaf values (no object per node, no per-node padding).
///
/// Node word (``nodes``), bits:
/// - 0–7: numeric split: threshold bin + `o`; otherwise 0;
/// - 8–29: feature + 1 (0 for a leaf);
/// - 30: `o`, missing values go left (``missingGoesLeft``);
/// - 31: categorical split (``categoricalSplit``);
/// - 32–63: numeric split: the left child (the right is the left + 1); leaf: the leaf
///   index; categorical split: the index `c` of its entry in ``categorical``.
///
/// A numeric node sends a row left when `UInt8(bin &+ o) <= bits 0–7`: the missing bin
/// 255 wraps to 0 exactly when `o` is 1, so the learned missing side costs no branch.
/// Categorical entry `c` is 5 words of ``categorical``: the 256-bit level set (bit 255:
/// missing) and the left child. A leaf's values are
/// `leafValues[leaf * outputWidth ..< (leaf + 1) * outputWidth]` (class probabilities, or
/// the mean target). Node 0 is the root; children come after their parent.
///
/// The logical view (``feature(_:)``, ``split(_:)``, ``flags(_:)``, ``child(_:)``, the
/// level sets in entry order) is the one the model fingerprint hashes
/// (``hash(into:)``), so the fingerprint does not depend on this layout.
public struct Tree: Sendable, Equatable {
    /// Flag bit: missing values go to the left child.
    public static let missingGoesLeft: UInt8 = 1
    /// Flag bit: the node splits on a level set.
    public static let categoricalSplit: UInt8 = 2
    /// The largest feature count a node word can address (22 bits hold feature + 1).
    public static let maxFeatureCount = (1 << 22) - 1
    /// Words per categorical entry: the level set (4) and the left child.
    public static let categoricalWords = 5
    /// Bytes of one stored node word.
    public static let nodeBytes = 8
    /// First word of a tree's encoding since model format 3 ("TRE3"): an older encoding
    /// starts with the output width instead.
    static let encodingTag: UInt32 = 0x3345_5254

    /// Values per leaf: the class count, or 1 for regression.
    public let outputWidth: Int
    public let featureCount: Int
    /// One packed word per node (layout above).
    public internal(set) var nodes: [UInt64]
    /// ``categoricalWords`` words per categorical split: level set, then left child.
    public internal(set) var categorical: [UInt64]
    public internal(set) var leafValues: [Float]
    /// Total weighted impurity decrease per feature (unnormalised).
    public internal(set) var importances: [Double]
    /// Longest root-to-leaf path, in edges.
    public internal(set) var depth: Int

    public var nodeCount: Int { nodes.count }
    public var leafCount: Int { leafValues.count / max(outputWidth, 1) }
    public var categoricalSplitCount: Int { categorical.count / Self.categoricalWords }

    /// Bytes the tree's arrays hold in memory (and, within 68 bytes, in the model file).
    public var storedBytes: Int {
        nodes.count * Self.nodeBytes + categorical.count * 8 + leafValues.count * 4 + importances.count * 8
    }

    init(outputWidth: Int, featureCount: Int) {
        self.outputWidth = outputWidth
        self.featureCount = featureCount
        nodes = []
        categorical = []
        leafValues = []
        importances = Array(repeating: 0, count: featureCount)
        depth = 0
    }

    // MARK: Logical view

    /// Whether node `i` is a leaf.
    @inline(__always) public func isLeaf(_ i: Int) -> Bool { nodes[i] & 0x3FFF_FF00 == 0 }

    /// The feature node `i` splits on, or −1 for a leaf.
    @inline(__always) public func feature(_ i: Int) -> Int32 { Int32((nodes[i] >> 8) & 0x3F_FFFF) - 1 }

    /// ``missingGoesLeft`` and ``categoricalSplit`` of node `i`.
    @inline(__always) public func flags(_ i: Int) -> UInt8 { UInt8(truncatingIfNeeded: nodes[i] >> 30) & 3 }

    /// Node `i`'s threshold bin (numeric), its level-set index (categorical), or 0 (leaf).
    @inline(__always) public func split(_ i: Int) -> UInt32 {
        let w = nodes[i]
        if w & (1 << 31) != 0 { return UInt32(truncatingIfNeeded: w >> 32) }
        if w & 0x3FFF_FF00 == 0 { return 0 }
        return UInt32(w & 0xFF) - UInt32((w >> 30) & 1)
    }

    /// Node `i`'s left child (the right child is the next node), or its leaf index.
    @inline(__always) public func child(_ i: Int) -> Int32 {
        let w = nodes[i]
        if w & (1 << 31) != 0 { return Int32(truncatingIfNeeded: categorical[Int(w >> 32) * Self.categoricalWords + 4]) }
        return Int32(truncatingIfNeeded: w >> 32)
    }

    /// Whether a row whose bin of `feature(node)` is `bin` goes to the left child.
    @inline(__always)
    public func goesLeft(node i: Int, bin b: UInt8) -> Bool {
        let w = nodes[i]
        if w & (1 << 31) != 0 {
            return categorical[Int(w >> 32) &* Self.categoricalWords &+ Int(b >> 6)] >> UInt64(b & 63) & 1 != 0
        }
        return b &+ (UInt8(truncatingIfNeeded: w >> 30) & 1) <= UInt8(truncatingIfNeeded: w)
    }

    /// The level set of categorical node `i` as bins (255 = missing).
    public func levelSet(node i: Int) -> [Int] {
        let base = Int(nodes[i] >> 32) * Self.categoricalWords
        return (0..<256).filter { categorical[base + $0 >> 6] >> UInt64($0 & 63) & 1 != 0 }
    }

    /// The leaf index reached by row `row` of a column-major binned partition with `rowCount` rows.
    @inline(__always)
    public func leaf(binned bins: UnsafeBufferPointer<UInt8>, rowCount: Int, row: Int) -> Int {
        var i = 0
        while true {
            let w = nodes[i]
            let f = Int((w >> 8) & 0x3F_FFFF)
            if f == 0 { return Int(w >> 32) }
            let left = goesLeft(node: i, bin: bins[(f - 1) * rowCount + row])
            i = Int(child(i)) + (left ? 0 : 1)
        }
    }

    // MARK: Building (the grower)

    /// Appends a node (a leaf with leaf index 0 until set): its index.
    @discardableResult
    mutating func appendNode() -> Int {
        nodes.append(0)
        return nodes.count - 1
    }

    /// Makes node `i` a leaf whose values are the next ``outputWidth`` values appended to ``leafValues``.
    mutating func makeLeaf(_ i: Int) {
        nodes[i] = UInt64(leafCount) << 32
    }

    /// Makes node `i` a numeric split: `bin <= threshold` goes to `leftChild`.
    mutating func setNumericSplit(_ i: Int, feature: Int, threshold: Int, missingGoesLeft: Bool, leftChild: Int) {
        let o: UInt64 = missingGoesLeft ? 1 : 0
        nodes[i] = (UInt64(threshold) + o) | UInt64(feature + 1) << 8 | o << 30 | UInt64(leftChild) << 32
    }

    /// Makes node `i` a categorical split: a bin in `leftSet` (4 words, bit 255 missing) goes to `leftChild`.
    mutating func setCategoricalSplit(
        _ i: Int, feature: Int, leftSet: (UInt64, UInt64, UInt64, UInt64),
        missingGoesLeft: Bool, leftChild: Int
    ) {
        let c = UInt64(categoricalSplitCount)
        categorical += [leftSet.0, leftSet.1, leftSet.2, leftSet.3, UInt64(leftChild)]
        nodes[i] = UInt64(feature + 1) << 8 | (missingGoesLeft ? 1 << 30 : 0) | 1 << 31 | c << 32
    }

    /// A tree from its logical arrays (the layout of model format 2): `feature` (−1 = leaf),
    /// `split`, `flags`, `child` per node, `levelSets` (4 words per set). Throws when the
    /// arrays are not a valid tree or not one the stored form represents (a leaf with a
    /// split or flags, a level set used by no node or by two).
    init(
        outputWidth: Int, featureCount: Int, depth: Int, feature: [Int32], split: [UInt32], flags: [UInt8],
        child: [Int32], levelSets: [UInt64], leafValues: [Float], importances: [Double], context: String
    ) throws {
        func bad(_ why: String) -> ForestError { ForestError(.corrupted, "\(context): invalid tree (\(why))") }
        let n = feature.count
        guard n >= 1, split.count == n, flags.count == n, child.count == n, levelSets.count % 4 == 0 else {
            throw bad("array sizes")
        }
        guard featureCount <= Self.maxFeatureCount else { throw bad("\(featureCount) features, at most \(Self.maxFeatureCount)") }
        self.init(outputWidth: outputWidth, featureCount: featureCount)
        self.depth = depth
        let sets = levelSets.count / 4
        var entryChild = [Int?](repeating: nil, count: sets)
        nodes = [UInt64](repeating: 0, count: n)
        for i in 0..<n {
            let f = Int(feature[i])
            let s = Int(split[i])
            let c = Int(child[i])
            let fl = flags[i]
            guard fl & ~(Self.missingGoesLeft | Self.categoricalSplit) == 0 else { throw bad("flags \(fl) at node \(i)") }
            if f < 0 {
                guard f == -1, s == 0, fl == 0, c >= 0 else { throw bad("leaf \(i) with a split, flags or a negative index") }
                nodes[i] = UInt64(c) << 32
            } else if fl & Self.categoricalSplit != 0 {
                guard s < sets, entryChild[s] == nil, c >= 0 else { throw bad("level set \(s) at node \(i)") }
                entryChild[s] = c
                nodes[i] = UInt64(f + 1) << 8 | UInt64(fl) << 30 | UInt64(s) << 32
            } else {
                guard s < Int(FeatureExtractor.missingBin), c >= 0 else { throw bad("threshold bin \(s) at node \(i)") }
                setNumericSplit(i, feature: f, threshold: s, missingGoesLeft: fl & Self.missingGoesLeft != 0, leftChild: c)
            }
            guard f < featureCount else { throw bad("feature \(f) at node \(i)") }
        }
        categorical.reserveCapacity(sets * Self.categoricalWords)
        for s in 0..<sets {
            guard let c = entryChild[s] else { throw bad("level set \(s) used by no node") }
            categorical += levelSets[s * 4..<s * 4 + 4]
            categorical.append(UInt64(c))
        }
        self.leafValues = leafValues
        self.importances = importances
        try validate(context: context)
    }

    // MARK: Encoding

    /// Model format 3: the tag, output width, feature count, depth, then the node words,
    /// the categorical entries, the leaf values and the importances (length-prefixed arrays).
    public func write(to w: inout ByteWriter) {
        w.write(Self.encodingTag)
        w.write(UInt32(outputWidth))
        w.write(UInt32(featureCount))
        w.write(UInt32(depth))
        w.write(array: nodes)
        w.write(array: categorical)
        w.writeBitPatterns(leafValues)
        w.writeBitPatterns(importances)
    }

    /// The number of bytes `write(to:)` appends.
    var serializedSize: Int { 16 + 4 * 8 + storedBytes }

    /// The tree's canonical logical bytes, model format 2's tree encoding: what
    /// ``hash(into:)`` hashes (without building them), and what a format 2 file holds.
    func writeLogical(to w: inout ByteWriter) {
        w.write(UInt32(outputWidth))
        w.write(UInt32(featureCount))
        w.write(UInt32(depth))
        let n = nodes.indices
        w.write(array: n.map(feature))
        w.write(array: n.map(split))
        w.write(array: n.map(flags))
        w.write(array: n.map(child))
        w.write(array: (0..<categoricalSplitCount * 4).map { categorical[$0 / 4 * Self.categoricalWords + $0 % 4] })
        w.writeBitPatterns(leafValues)
        w.writeBitPatterns(importances)
    }

    /// Feeds the tree's canonical logical content to `hasher`: output width, feature
    /// count, depth (UInt32 each), then `feature` (Int32), `split` (UInt32), `flags`
    /// (UInt8), `child` (Int32) per node, the level sets (UInt64, 4 per categorical split
    /// in entry order), the leaf values (Float bits) and the importances (Double bits),
    /// each array as its UInt64 count and its little-endian values — the bytes a
    /// format 2 tree was, so fingerprints are those of format 2.
    func hash(into hasher: inout XXHash64) {
        hasher.update(integer: UInt32(outputWidth))
        hasher.update(integer: UInt32(featureCount))
        hasher.update(integer: UInt32(depth))
        let n = nodes.count
        Self.hashArray(count: n, into: &hasher) { feature($0) }
        Self.hashArray(count: n, into: &hasher) { split($0) }
        Self.hashArray(count: n, into: &hasher) { flags($0) }
        Self.hashArray(count: n, into: &hasher) { child($0) }
        let sets = categoricalSplitCount
        Self.hashArray(count: sets * 4, into: &hasher) { categorical[$0 / 4 * Self.categoricalWords + $0 % 4] }
        Self.hashArray(count: leafValues.count, into: &hasher) { leafValues[$0].bitPattern }
        Self.hashArray(count: importances.count, into: &hasher) { importances[$0].bitPattern }
    }

    /// Hashes `count` as UInt64, then `value(0..<count)` little-endian, in chunks.
    private static func hashArray<T: FixedWidthInteger>(count: Int, into hasher: inout XXHash64, _ value: (Int) -> T) {
        hasher.update(integer: UInt64(count))
        let chunk = 4096
        withUnsafeTemporaryAllocation(of: T.self, capacity: chunk) { buffer in
            var start = 0
            while start < count {
                let m = min(chunk, count - start)
                for k in 0..<m { buffer[k] = value(start + k).littleEndian }
                hasher.update(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: buffer[0..<m])))
                start += m
            }
        }
    }

    /// Reads a tree of model format 3, or of format 2 (then converted, see
    /// ``init(outputWidth:featureCount:depth:feature:split:flags:child:levelSets:leafValues:importances:context:)``).
    public static func read(from r: inout ByteReader) throws -> Tree {
        let first = try r.read(UInt32.self)
        guard first == encodingTag else { return try readFormat2(from: &r, outputWidth: Int(first)) }
        let width = Int(try r.read(UInt32.self))
        let features = Int(try r.read(UInt32.self))
        var t = Tree(outputWidth: width, featureCount: features)
        t.depth = Int(try r.read(UInt32.self))
        t.nodes = try r.readArray(UInt64.self)
        t.categorical = try r.readArray(UInt64.self)
        t.leafValues = try r.readFloats()
        t.importances = try r.readDoubles()
        try t.validate(context: r.context)
        return t
    }

    private static func readFormat2(from r: inout ByteReader, outputWidth width: Int) throws -> Tree {
        let features = Int(try r.read(UInt32.self))
        let depth = Int(try r.read(UInt32.self))
        let feature = try r.readArray(Int32.self)
        let split = try r.readArray(UInt32.self)
        let flags = try r.readArray(UInt8.self)
        let child = try r.readArray(Int32.self)
        let levelSets = try r.readArray(UInt64.self)
        let leafValues = try r.readFloats()
        let importances = try r.readDoubles()
        return try Tree(
            outputWidth: width, featureCount: features, depth: depth, feature: feature, split: split,
            flags: flags, child: child, levelSets: levelSets, leafValues: leafValues,
            importances: importances, context: r.context)
    }

    /// Checks the structure so that traversal of a decoded tree cannot go out of bounds or
    /// loop, and that every word is in canonical form (one stored form per logical tree).
    func validate(context: String) throws {
        let n = nodes.count
        func bad(_ why: String) -> ForestError { ForestError(.corrupted, "\(context): invalid tree (\(why))") }
        guard outputWidth >= 1, n >= 1, featureCount <= Self.maxFeatureCount, importances.count == featureCount,
            leafValues.count % outputWidth == 0, categorical.count % Self.categoricalWords == 0
        else {
            throw bad("array sizes")
        }
        let leaves = leafValues.count / outputWidth
        let entries = categoricalSplitCount
        var used = [Bool](repeating: false, count: entries)
        for i in 0..<n {
            let w = nodes[i]
            let f = Int((w >> 8) & 0x3F_FFFF)
            let low = Int(w & 0xFF)
            let o = Int((w >> 30) & 1)
            let high = Int(w >> 32)
            if f == 0 {
                guard w & 0xFFFF_FFFF == 0, high < leaves else { throw bad("leaf index \(high) at node \(i)") }
                continue
            }
            guard f - 1 < featureCount else { throw bad("feature \(f - 1) at node \(i)") }
            let left: Int
            if w & (1 << 31) != 0 {
                guard low == 0, high < entries, !used[high] else { throw bad("categorical entry \(high) at node \(i)") }
                used[high] = true
                let c = categorical[high * Self.categoricalWords + 4]
                guard c < UInt64(Int32.max) else { throw bad("child \(c) of node \(i)") }
                left = Int(c)
            } else {
                guard low >= o, low - o < Int(FeatureExtractor.missingBin) else { throw bad("threshold bin at node \(i)") }
                left = high
            }
            guard left > i, left + 1 < n, left < Int(Int32.max) else { throw bad("child \(left) of node \(i)") }
        }
        guard !used.contains(false) else { throw bad("a categorical entry used by no node") }
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
