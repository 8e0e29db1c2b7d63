/// Where a cross-validation job's trees sit in one partition: the partition grows a share
/// s of every fold's forest, fold k's as its tree indices k·s ..< (k+1)·s (so the
/// partition's `trees` is K·s). The job store creates fold tasks from it, the coordinator
/// merges fold forests by it, the range split cuts inside its blocks and a worker seeds a
/// fold's trees from its block's first index.
public struct FoldTreeLayout: Sendable, Hashable {
    /// Folds, K ≥ 1.
    public let folds: Int
    /// The partition's trees of each fold's forest, s ≥ 0.
    public let share: Int

    public init(folds: Int, share: Int) {
        self.folds = max(1, folds)
        self.share = max(0, share)
    }

    /// The layout of a partition holding `partitionTrees` = K·s trees.
    public init(folds: Int, partitionTrees: Int) {
        self.init(folds: folds, share: partitionTrees / max(1, folds))
    }

    /// K·s: the partition's trees over all folds.
    public var partitionTrees: Int { folds * share }

    /// Fold `k`'s block of tree indices.
    public func trees(ofFold k: Int) -> Range<Int> { (k * share)..<((k + 1) * share) }

    /// The fold whose block holds tree `index`; nil outside the K blocks.
    public func fold(ofTree index: Int) -> Int? {
        guard share > 0, index >= 0, index < partitionTrees else { return nil }
        return index / share
    }

    /// The K train (or evaluate) task variants of the partition, one per fold, in fold order.
    public var variants: [TaskVariant] { (0..<folds).map { .fold($0, trees: trees(ofFold: $0)) } }
}
