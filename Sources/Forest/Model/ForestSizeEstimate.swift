import Foundation

/// The size of a forest before it is trained, from the training rows each partition's
/// trees see: an expected size (to decide whether a depth cap is needed) and a hard
/// upper bound under a depth cap (to choose one).
///
/// Per tree grown on `n` training rows: the bootstrap sample holds `m = n·(1 − 1/e)`
/// distinct rows (`n` without bootstrap). An unbounded tree is expected to end with
/// `L = max(1, ρ·m / minSamplesLeaf)` leaves, ρ = ``leavesPerDistinctRow(_:)``; a depth
/// cap `d` limits it to `2^d`. Every leaf holds at least one distinct row, so
/// `min(2^d, m)` leaves is a hard bound. A tree of `L` leaves has `2L − 1` nodes; the
/// stored form (``Tree``) holds ``Tree/nodeBytes`` per node, 4 bytes per leaf value
/// (`outputWidth` per leaf), 8 per feature (importances) and ``perTreeBytes``.
/// Categorical splits add 40 bytes each, not counted.
///
/// ρ = 0.1 for classification is calibrated on the make_classification family (50
/// features, 20 informative, 10 redundant, 1 % flipped labels) with unbounded trees:
/// `ForestSizeEstimateTests` checks the estimate within a factor 1.5 of the actual node
/// count at 6K and 15K rows (at 2K rows trees have more leaves per row than that).
/// Cleaner data gives fewer leaves, noisier more; a continuous target splits until
/// nearly every distinct row is alone (ρ = 0.5 is an assumption for regression).
public struct ForestSizeEstimate: Sendable, Equatable {
    /// Trees in the forest.
    public var trees: Int
    /// Expected nodes over all trees.
    public var nodes: Double
    /// Expected bytes of the stored trees (≈ the model file and the resident model).
    public var bytes: Double

    /// Bytes per tree besides its arrays (counts, widths, array lengths).
    public static let perTreeBytes = 48

    /// Expected leaves per distinct in-bag row of an unbounded tree (min samples leaf 1).
    public static func leavesPerDistinctRow(_ task: TaskKind) -> Double {
        task == .classification ? 0.1 : 0.5
    }

    /// Distinct rows in a tree's sample of `rows` training rows.
    public static func distinctRows(_ rows: Int, bootstrap: Bool) -> Double {
        bootstrap ? Double(rows) * (1 - exp(-1.0)) : Double(rows)
    }

    /// Expected leaves of one tree on `rows` training rows.
    public static func expectedLeaves(rows: Int, task: TaskKind, parameters p: ForestParameters) -> Double {
        let m = distinctRows(rows, bootstrap: p.bootstrap)
        var leaves = max(1, leavesPerDistinctRow(task) * m / Double(max(1, p.minSamplesLeaf)))
        if let d = p.maxDepth { leaves = min(leaves, pow(2, Double(min(d, 62)))) }
        return leaves
    }

    /// The most leaves one tree on `rows` training rows can have under a depth cap `maxDepth`.
    public static func maximumLeaves(rows: Int, bootstrap: Bool, maxDepth: Int) -> Double {
        max(1, min(pow(2, Double(min(maxDepth, 62))), distinctRows(rows, bootstrap: bootstrap).rounded(.up)))
    }

    /// Stored bytes of a tree with `leaves` leaves.
    public static func treeBytes(leaves: Double, outputWidth: Int, featureCount: Int) -> Double {
        let nodes = 2 * leaves - 1
        return nodes * Double(Tree.nodeBytes) + leaves * Double(4 * outputWidth) + Double(8 * featureCount + perTreeBytes)
    }

    /// The expected size of a forest of `parameters.trees` trees over partitions of
    /// `partitionRows` training rows (trees shared as ``ForestTrainer/treeShare(totalTrees:partitions:partition:)``).
    public static func expected(
        partitionRows: [Int], task: TaskKind, outputWidth: Int, featureCount: Int,
        parameters: ForestParameters
    ) -> ForestSizeEstimate {
        sum(partitionRows: partitionRows, trees: parameters.trees, outputWidth: outputWidth, featureCount: featureCount) {
            expectedLeaves(rows: $0, task: task, parameters: parameters)
        }
    }

    /// The largest size a forest capped at depth `maxDepth` can have.
    public static func maximum(
        partitionRows: [Int], maxDepth: Int, outputWidth: Int, featureCount: Int,
        parameters: ForestParameters
    ) -> ForestSizeEstimate {
        sum(partitionRows: partitionRows, trees: parameters.trees, outputWidth: outputWidth, featureCount: featureCount) {
            maximumLeaves(rows: $0, bootstrap: parameters.bootstrap, maxDepth: maxDepth)
        }
    }

    /// The largest depth cap (1...62) whose ``maximum(partitionRows:maxDepth:outputWidth:featureCount:parameters:)``
    /// fits `budget` bytes, or 1 when none does.
    public static func largestDepth(
        fitting budget: Double, partitionRows: [Int], outputWidth: Int, featureCount: Int,
        parameters: ForestParameters
    ) -> Int {
        var best = 1
        for d in 1...62 {
            let size = maximum(
                partitionRows: partitionRows, maxDepth: d, outputWidth: outputWidth,
                featureCount: featureCount, parameters: parameters)
            guard size.bytes <= budget else { break }
            best = d
        }
        return best
    }

    private static func sum(
        partitionRows: [Int], trees: Int, outputWidth: Int, featureCount: Int,
        leaves: (Int) -> Double
    ) -> ForestSizeEstimate {
        let P = max(1, partitionRows.count)
        var nodes = 0.0
        var bytes = 0.0
        var count = 0
        for (p, rows) in partitionRows.enumerated() {
            let t = ForestTrainer.treeShare(totalTrees: trees, partitions: P, partition: p).count
            let l = leaves(rows)
            count += t
            nodes += Double(t) * (2 * l - 1)
            bytes += Double(t) * treeBytes(leaves: l, outputWidth: outputWidth, featureCount: featureCount)
        }
        return ForestSizeEstimate(trees: count, nodes: nodes, bytes: bytes)
    }
}
