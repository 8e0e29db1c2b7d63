/// A contiguous range of a forest's trees that scores its part of each prediction alone:
/// for every row, the values of its ``pieces`` (nodes of the whole forest's
/// ``ForestScoringLayout``), which ``ForestScoringLayout/combine(pieces:values:strides:rows:into:)``
/// adds, with the other slices' pieces, into exactly the whole forest's prediction.
public struct ForestSlice: Sendable {
    /// The whole forest's grouping.
    public let layout: ForestScoringLayout
    /// The slice's trees, as indices into the whole forest.
    public let trees: Range<Int>
    /// The slice's trees with their weights in the whole forest (tree `i` is the forest's `trees.lowerBound + i`).
    public let forest: RandomForest
    /// The layout nodes whose values the slice returns, in tree order.
    public let pieces: [Int]

    init(layout: ForestScoringLayout, trees: Range<Int>, forest: RandomForest, pieces: [Int]) throws {
        guard forest.trees.count == trees.count, layout.outputWidth == forest.outputWidth, layout.task == forest.task,
            trees.upperBound <= layout.treeCount,
            pieces.allSatisfy({ layout.trees(ofPiece: $0).clamped(to: trees) == layout.trees(ofPiece: $0) })
        else {
            throw ForestError(.incompatible, "a slice of trees \(trees) does not match its forest's scoring layout")
        }
        self.layout = layout
        self.trees = trees
        self.forest = forest
        self.pieces = pieces
    }

    /// The slice of trees `range` of a forest whose tree weights are `treeWeights`, given its trees only.
    public init(treeWeights: [Double], trees range: Range<Int>, forest: RandomForest) throws {
        let layout = try ForestScoringLayout(task: forest.task, outputWidth: forest.outputWidth, treeWeights: treeWeights)
        try self.init(layout: layout, trees: range, forest: forest, pieces: try layout.pieces(covering: range))
    }

    /// Values per row of ``partialSums(binned:threads:)``: pieces × output width.
    public var valuesPerRow: Int { pieces.count * forest.outputWidth }

    /// Row-major partial sums (`rowCount × valuesPerRow`): each row's pieces in order,
    /// `outputWidth` values each. Does not depend on `threads`.
    public func partialSums(binned partition: BinnedPartition, threads: Int = 1) -> [Double] {
        forest.score(binned: partition, threads: threads, layout: layout, nodes: pieces, firstTree: trees.lowerBound)
    }
}

extension ForestScoringLayout {
    /// The predictions of `rows` rows from every slice's ``ForestSlice/partialSums(binned:threads:)``
    /// (`slices[k]`: the pieces of slice `k` and its row-major values), any order of slices.
    /// Throws when the pieces do not cover the forest exactly once or a buffer is short.
    public func combine(slices: [(pieces: [Int], values: UnsafeBufferPointer<Double>)], rows: Int) throws -> [Double] {
        var pieces: [Int] = []
        var pointers: [UnsafePointer<Double>] = []
        var strides: [Int] = []
        for s in slices {
            let stride = s.pieces.count * outputWidth
            guard s.values.count >= rows * stride else {
                throw ForestError(.invalidData, "\(s.values.count) partial sums for \(rows) rows of \(s.pieces.count) piece(s)")
            }
            guard rows > 0 else { continue }
            guard let base = s.values.baseAddress else { continue }
            for (j, p) in s.pieces.enumerated() {
                pieces.append(p)
                pointers.append(base + j * outputWidth)
                strides.append(stride)
            }
        }
        var out = [Double](repeating: 0, count: rows * outputWidth)
        guard rows > 0 else { return out }
        try checkCover(pieces)
        out.withUnsafeMutableBufferPointer { o in
            combine(pieces: pieces, values: pointers, strides: strides, rows: rows, into: o.baseAddress!)
        }
        return out
    }
}

/// What a worker scoring one slice holds instead of the whole model: the model with only
/// the slice's trees (schema, extractor, parameters, and the trees with their weights in the
/// whole forest) and the whole forest's tree weights (its scoring layout).
///
/// Layout: `STSLICE\0`, version 1 (UInt32), the whole forest's tree weights (Float64
/// bit patterns), the first tree and the end of the slice (UInt32 each), the model
/// payload (``ForestModel/serialize()``, length-prefixed).
public struct ForestModelSlice: Sendable {
    /// The model holding the slice's trees only (its `forest` is ``slice``'s).
    public let model: ForestModel
    public let slice: ForestSlice
    static let magic: [UInt8] = Array("STSLICE\0".utf8)
    static let version: UInt32 = 1

    /// Trees `range` of `model` (on boundaries of its scoring layout).
    public init(_ model: ForestModel, trees range: Range<Int>) throws {
        let slice = try model.forest.slice(range)
        var part = model
        part.forest = slice.forest
        part.testMetrics = nil
        part.outOfBagMetrics = nil
        part.provenance = [:]
        self.model = part
        self.slice = slice
    }

    /// Whether `bytes` begin like a serialized slice (rather than a model payload).
    public static func isSlice(_ bytes: some Collection<UInt8>) -> Bool { bytes.starts(with: magic) }

    public func serialize() -> [UInt8] {
        var w = ByteWriter()
        for b in Self.magic { w.write(b) }
        w.write(Self.version)
        w.write(array: slice.layout.treeWeights)
        w.write(UInt32(slice.trees.lowerBound))
        w.write(UInt32(slice.trees.upperBound))
        w.write(bytes: model.serialize())
        return w.bytes
    }

    public init(deserializing bytes: [UInt8], context: String = "model slice") throws {
        var r = ByteReader(bytes, context: context)
        for b in Self.magic {
            guard try r.readByte() == b else { throw ForestError(.corrupted, "\(context): not a model slice") }
        }
        let version = try r.read(UInt32.self)
        guard version == Self.version else {
            throw ForestError(.unsupportedVersion, "\(context): slice format version \(version); this build reads version \(Self.version)")
        }
        let weights = try r.readDoubles()
        let lo = Int(try r.read(UInt32.self))
        let hi = Int(try r.read(UInt32.self))
        let model = try ForestModel(deserializing: try r.readBytes(), context: context)
        try r.expectEnd()
        guard lo < hi, hi <= weights.count, model.forest.trees.count == hi - lo,
            Array(weights[lo..<hi]) == model.forest.treeWeights
        else {
            throw ForestError(
                .corrupted,
                "\(context): trees \(lo)..<\(hi) do not match the slice's \(model.forest.trees.count) trees and \(weights.count) weights")
        }
        do {
            slice = try ForestSlice(treeWeights: weights, trees: lo..<hi, forest: model.forest)
        } catch {
            throw ForestError(.corrupted, "\(context): \(error)")
        }
        self.model = model
    }
}
