/// Where a cross-validation job's trees sit in one partition. The job cross-validates one
/// or more parameter points (a `cv --grid`), each on the same K folds; the partition grows a
/// share s_g of every fold's forest of point g. The blocks of tree indices are point-major:
/// point g's fold k holds O_g + k·s_g ..< O_g + (k+1)·s_g, with O_g = K·(s_0 + … + s_{g−1}),
/// so the partition's `trees` is K·Σ s_g. With one point, fold k's block is k·s ..< (k+1)·s.
/// The job store creates fold tasks from it, the coordinator merges fold forests by it, the
/// range split cuts inside its blocks and a worker seeds a block's trees from its first index.
public struct FoldTreeLayout: Sendable, Hashable {
    /// One (point, fold) block of the partition's tree indices.
    public struct Block: Sendable, Hashable {
        /// The parameter point, 0-based (0 in a job without a grid).
        public var point: Int
        /// The held-out fold, 0-based.
        public var fold: Int
    }

    /// Folds, K ≥ 1.
    public let folds: Int
    /// The partition's trees of each point's fold forests, s_g ≥ 0 (one entry without a grid).
    public let shares: [Int]

    /// The layout of `shares[g]` trees per fold of point g.
    public init(folds: Int, shares: [Int]) {
        self.folds = max(1, folds)
        self.shares = shares.isEmpty ? [0] : shares.map { max(0, $0) }
    }

    /// The layout of one point whose folds each have `share` of the partition's trees.
    public init(folds: Int, share: Int) {
        self.init(folds: folds, shares: [share])
    }

    /// Partition `p`'s layout among `partitions`: point g's `pointTrees[g]` trees per fold
    /// shared over the partitions as ``PartitionPlanner/treeShares(trees:partitions:)`` shares them.
    public static func partition(_ p: Int, of partitions: Int, folds: Int, pointTrees: [Int]) -> FoldTreeLayout {
        FoldTreeLayout(
            folds: folds, shares: pointTrees.map { PartitionPlanner.treeShares(trees: $0, partitions: max(1, partitions))[p] })
    }

    /// The number of parameter points.
    public var points: Int { shares.count }

    /// The one point's share (the first point's, with a grid).
    public var share: Int { shares[0] }

    /// K·Σ s_g: the partition's trees over all points and folds.
    public var partitionTrees: Int { folds * shares.reduce(0, +) }

    /// Point g's first tree index, O_g.
    public func firstTree(ofPoint g: Int) -> Int { folds * shares[..<g].reduce(0, +) }

    /// Fold `k`'s block of tree indices of point `g`.
    public func trees(ofFold k: Int, point g: Int = 0) -> Range<Int> {
        let first = firstTree(ofPoint: g) + k * shares[g]
        return first..<(first + shares[g])
    }

    /// The block holding tree `index`; nil outside the partition's trees.
    public func block(ofTree index: Int) -> Block? {
        guard index >= 0 else { return nil }
        var first = 0
        for (g, s) in shares.enumerated() {
            if index < first + folds * s { return Block(point: g, fold: (index - first) / s) }
            first += folds * s
        }
        return nil
    }

    /// The fold whose block holds tree `index`; nil outside the blocks.
    public func fold(ofTree index: Int) -> Int? { block(ofTree: index)?.fold }

    /// The partition's train (or evaluate) task variants, one per (point, fold) with trees,
    /// point-major and in fold order.
    public var variants: [TaskVariant] {
        shares.indices.flatMap { g in
            shares[g] == 0 ? [] : (0..<folds).map { k in TaskVariant.fold(k, trees: trees(ofFold: k, point: g), point: g) }
        }
    }
}
