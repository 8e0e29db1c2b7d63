/// Decides, when a job's train stage begins, whether partitions' trees are
/// split in contiguous tree ranges over several workers, so that a job with
/// fewer partitions than workers still trains on every worker.
///
/// A worker runs one train task at a time, on all the cores it announced, so
/// the train stage has one slot per worker. With `P` partitions and `W > P`
/// workers, partition `p` gets `W / P` ranges, one more for the first
/// `W % P` partitions (at most one per `minimumTreesPerRange` trees of its
/// share). A partition's ranges are its share cut as evenly as
/// `PartitionPlanner.treeShares` cuts the forest (the first ranges get one
/// more tree). Ranges are not bound to workers: the scheduler gives each free
/// worker the next one, so with unequal cores the faster workers finish first.
///
/// Trees are seeded by (seed, partition, index) and keyed by index, so a
/// split job builds exactly the trees, and the model, of the unsplit one.
/// Pure: the same shares and workers give the same decision.
public enum TreeRangeSplit {
    public struct Worker: Sendable, Hashable {
        public var id: String
        /// Threads it trains with (`Hello.cores`).
        public var cores: Int

        public init(id: String, cores: Int) {
            self.id = id
            self.cores = cores
        }
    }

    public struct Decision: Sendable, Hashable {
        /// The tree ranges of each partition that is split (two or more, contiguous
        /// from 0, covering its share); partitions not listed keep one whole task.
        public var ranges: [Int: [Range<Int>]]
        /// Train tasks after the split.
        public var tasks: Int
        /// What was decided and why, for the coordinator's log and `status`.
        public var message: String
    }

    /// `treeShares[p]`: partition `p`'s share of the forest's trees.
    public static func decide(treeShares: [Int], workers: [Worker], minimumTreesPerRange: Int = 1) -> Decision {
        let partitions = treeShares.count
        let cores = workers.sorted { $0.id < $1.id }.map { "\($0.id) \($0.cores) \($0.cores == 1 ? "core" : "cores")" }.joined(
            separator: ", ")
        let who = "\(workers.count) \(workers.count == 1 ? "worker" : "workers")\(workers.isEmpty ? "" : " (\(cores))")"
        let what = "\(partitions) \(partitions == 1 ? "partition" : "partitions")"
        guard partitions > 0, workers.count > partitions else {
            return Decision(
                ranges: [:], tasks: partitions,
                message: "train: \(what) for \(who): one train task per partition")
        }
        let minimum = max(1, minimumTreesPerRange)
        var ranges: [Int: [Range<Int>]] = [:]
        var tasks = 0
        for (p, share) in treeShares.enumerated() {
            let wanted = workers.count / partitions + (p < workers.count % partitions ? 1 : 0)
            let count = max(1, min(wanted, share / minimum))
            tasks += count
            guard count >= 2 else { continue }
            var first = 0
            ranges[p] = PartitionPlanner.treeShares(trees: share, partitions: count).map { n in
                defer { first += n }
                return first..<(first + n)
            }
        }
        guard !ranges.isEmpty else {
            return Decision(
                ranges: [:], tasks: partitions,
                message: "train: \(what) for \(who): too few trees to split, one train task per partition")
        }
        let detail = ranges.keys.sorted().map { p in
            "p\(p)'s \(treeShares[p]) trees in \(ranges[p]!.map { "\($0.lowerBound)..<\($0.upperBound)" }.joined(separator: ", "))"
        }.joined(separator: "; ")
        return Decision(
            ranges: ranges, tasks: tasks,
            message: "train: \(what) for \(who): \(tasks) train tasks over tree ranges so that every worker trains (\(detail))")
    }
}
