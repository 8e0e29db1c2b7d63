import Dispatch
import Foundation
import Locking

/// Trains a partition's share of a forest's trees, in parallel, deterministically.
///
/// Tree `i` of partition `p` is grown from `ForestRNG.treeSeed(seed:partition:tree:)`
/// alone, so the trees (and the model fingerprint) are the same whatever the thread count
/// and whichever process trains the partition. Trees are grown on `threads` threads
/// (`DispatchQueue.concurrentPerform`, not the cooperative pool) and handed to the caller
/// in tree-index order, one at a time, so a worker can checkpoint after each.
public struct ForestTrainer: Sendable {
    public let parameters: ForestParameters
    /// Worker threads for tree growing (>= 1).
    public let threads: Int

    public init(parameters: ForestParameters, threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.parameters = parameters
        self.threads = max(1, threads)
    }

    /// The tree indices partition `partition` of `partitions` grows: ⌊T/P⌋ trees, plus one
    /// when `partition < T mod P`. Indices are local to the partition (`0..<count`).
    public static func treeShare(totalTrees: Int, partitions: Int, partition: Int) -> Range<Int> {
        let base = totalTrees / partitions
        let extra = totalTrees % partitions
        return 0..<(base + (partition < extra ? 1 : 0))
    }

    /// Partitions whose bins take at least this many bytes (rows × features) are also copied
    /// row-major for histogram building: beyond the caches, reading a node's rows column by
    /// column misses once per row and feature, row-major about once per row. The copy is
    /// that many bytes more while the partition trains (``rowMajorBytes(rows:features:)``).
    public static let rowMajorMinBytes = 8 << 20

    /// Bytes of the row-major copy a partition of `rows` × `features` gets while it trains (0 below the threshold).
    public static func rowMajorBytes(rows: Int, features: Int) -> Int {
        let (bytes, overflow) = max(0, rows).multipliedReportingOverflow(by: max(0, features))
        if overflow { return .max }
        return bytes >= rowMajorMinBytes ? bytes : 0
    }

    /// The row-major copy of `partition`'s bins, or an empty array below the threshold.
    static func rowMajorBins(_ partition: BinnedPartition) -> [UInt8] {
        let n = partition.rowCount
        let d = partition.featureCount
        guard rowMajorBytes(rows: n, features: d) > 0 else { return [] }
        var copy = [UInt8](repeating: 0, count: n * d)
        partition.bins.withUnsafeBufferPointer { bins in
            copy.withUnsafeMutableBufferPointer { out in
                // In blocks of rows, so each column's slice and the block's rows stay in cache.
                let block = 4096
                var start = 0
                while start < n {
                    let end = min(n, start + block)
                    for f in 0..<d {
                        let column = bins.baseAddress! + f * n
                        for r in start..<end { out[r * d + f] = column[r] }
                    }
                    start = end
                }
            }
        }
        return copy
    }

    /// Grows trees `range` (local indices) of partition `partitionIndex`, calling `onTree`
    /// with `(index, tree)` in increasing index order, serially. A resumed task passes the
    /// range from its first missing tree. If `onTree` throws, no further trees are started
    /// and the error is rethrown.
    public func trainTrees(
        partition: BinnedPartition, partitionIndex: Int, range: Range<Int>,
        onTree: @escaping @Sendable (Int, Tree) throws -> Void
    ) throws {
        try parameters.validate()
        guard partition.rowCount > 0 else {
            throw ForestError(.invalidData, "partition \(partitionIndex) has no training rows")
        }
        guard !range.isEmpty else { return }
        let state = TrainingRun(range: range, onTree: onTree)
        let workers = min(threads, range.count)
        let params = parameters
        let seed = parameters.seed
        // Identical rows are found once per partition and shared by its growers.
        let groups: RowGroups? =
            switch partition.task {
            case .classification:
                TreeGrower.findGroups(partition: partition, objective: ClassificationObjective(partition: partition, parameters: params))
            case .regression:
                TreeGrower.findGroups(partition: partition, objective: RegressionObjective(partition: partition, parameters: params))
            }
        let rowMajor = Self.rowMajorBins(partition)
        rowMajor.withUnsafeBufferPointer { copy in
            // Read-only while the growers run, and alive for the whole of `concurrentPerform`.
            nonisolated(unsafe) let rows = copy.isEmpty ? nil : copy.baseAddress
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                func run<O: SplitObjective>(_ grower: TreeGrower<O>) {
                    while let i = state.nextIndex() {
                        let tree = grower.grow(seed: ForestRNG.treeSeed(seed: seed, partition: partitionIndex, tree: i))
                        state.finished(i, tree)
                    }
                }
                switch partition.task {
                case .classification:
                    run(
                        TreeGrower(
                            partition: partition, parameters: params,
                            objective: ClassificationObjective(partition: partition, parameters: params), groups: groups,
                            rowMajor: rows))
                case .regression:
                    run(
                        TreeGrower(
                            partition: partition, parameters: params,
                            objective: RegressionObjective(partition: partition, parameters: params), groups: groups,
                            rowMajor: rows))
                }
            }
        }
        if let error = state.error { throw error }
    }

    /// Grows trees `range` of partition `partitionIndex` and returns them in index order.
    public func trainTrees(partition: BinnedPartition, partitionIndex: Int, range: Range<Int>) throws -> [Tree] {
        let trees = Locked([Tree]())
        try trainTrees(partition: partition, partitionIndex: partitionIndex, range: range) { _, t in trees.withLock { $0.append(t) } }
        return trees.withLock { $0 }
    }
}

/// Shared state of one `trainTrees` call: hands out indices, reorders finished trees.
private final class TrainingRun: Sendable {
    private struct State {
        var next: Int
        var nextToEmit: Int
        var done: [Int: Tree] = [:]
        var error: (any Error)?
    }
    private let state: Locked<State>
    private let end: Int
    private let onTree: @Sendable (Int, Tree) throws -> Void

    init(range: Range<Int>, onTree: @escaping @Sendable (Int, Tree) throws -> Void) {
        state = Locked(State(next: range.lowerBound, nextToEmit: range.lowerBound))
        end = range.upperBound
        self.onTree = onTree
    }

    /// The first error `onTree` threw, if any.
    var error: (any Error)? { state.withLock { $0.error } }

    func nextIndex() -> Int? {
        state.withLock { s in
            guard s.error == nil, s.next < end else { return nil }
            s.next += 1
            return s.next - 1
        }
    }

    /// Records tree `index`; emits, in index order and under the lock, every tree now in sequence.
    func finished(_ index: Int, _ tree: Tree) {
        state.withLock { s in
            guard s.error == nil else { return }
            s.done[index] = tree
            while let t = s.done.removeValue(forKey: s.nextToEmit) {
                do { try onTree(s.nextToEmit, t) } catch {
                    s.error = error
                    return
                }
                s.nextToEmit += 1
            }
        }
    }
}

extension ForestTrainer {
    /// Out-of-bag metrics of a partition's trees: each training row is scored by the
    /// trees whose bootstrap left it out (bootstraps are regenerated from the tree seeds),
    /// averaged; rows left out by no tree are skipped. Trees are visited in index order, so
    /// the result is deterministic. `firstTree` is the local index of `trees[0]`.
    public func outOfBagMetrics(
        partition: BinnedPartition, partitionIndex: Int, trees: [Tree], firstTree: Int = 0,
        task: LearningTask
    ) -> EvaluationMetrics {
        let n = partition.rowCount
        let C = task.outputWidth
        var sums = [Double](repeating: 0, count: n * C)
        var votes = [Int32](repeating: 0, count: n)
        let counts = UnsafeMutablePointer<UInt32>.allocate(capacity: max(n, 1))
        defer { counts.deallocate() }
        partition.bins.withUnsafeBufferPointer { bins in
            for (k, tree) in trees.enumerated() {
                let seed = ForestRNG.treeSeed(seed: parameters.seed, partition: partitionIndex, tree: firstTree + k)
                _ = TreeGrower<ClassificationObjective>.bootstrapCounts(seed: seed, rows: n, bootstrap: parameters.bootstrap, into: counts)
                for r in 0..<n where counts[r] == 0 {
                    let base = tree.leaf(binned: bins, rowCount: n, row: r) * C
                    for c in 0..<C { sums[r * C + c] += Double(tree.leafValues[base + c]) }
                    votes[r] += 1
                }
            }
        }
        var predictions: [Double] = []
        var classes: [Int32] = []
        var values: [Double] = []
        let labels = partition.labels
        let targets = partition.values
        for r in 0..<n where votes[r] > 0 {
            for c in 0..<C { predictions.append(sums[r * C + c] / Double(votes[r])) }
            if task.kind == .classification { classes.append(labels[r]) } else { values.append(targets[r]) }
        }
        var m = EvaluationMetrics(task: task)
        m.add(predictions: predictions, target: task.kind == .classification ? .classes(classes) : .values(values))
        return m
    }
}

extension ForestTrainer {
    /// Approximate peak bytes to hold a binned partition and grow its trees on `threads`
    /// threads (bins, targets, each grower's row buffers and histograms; the trees
    /// themselves add ~25 bytes per node). For sizing partitions to a worker's budget.
    public static func estimatedTrainingBytes(rows: Int, features: Int, classes: Int, threads: Int) -> Int {
        let partition = rows * features + rows * 8
        let perGrower =
            rows * (4 + 4 + 8) * 2 + rows * 4 + TreeGrower<ClassificationObjective>.groupSize * 256 * max(classes, 2) * 8 + 64 * 1024
        return partition + max(threads, 1) * perGrower
    }
}
