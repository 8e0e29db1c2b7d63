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
/// A cross-validation job of K folds has K train tasks per partition, each of a
/// fold's s trees (`decide(foldShares:folds:workers:)`). When the K·P tasks do
/// not divide evenly over the W workers, each is cut in m = W / gcd(K·P, W)
/// ranges, so that the K·P·m tasks of about s/m trees each keep every worker
/// busy to the end (at most one range per `minimumTreesPerRange` trees).
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

    /// `foldShares[p]`: partition `p`'s share s of each fold's forest, whose trees
    /// k·s ..< (k+1)·s form fold k's train task. The ranges returned for a partition
    /// cover its K·s trees and cut each fold's range in the same number of ranges.
    public static func decide(foldShares: [Int], folds: Int, workers: [Worker], minimumTreesPerRange: Int = 1) -> Decision {
        let partitions = foldShares.count
        let tasks = partitions * folds
        let who = describe(workers)
        let what = "\(partitions) \(partitions == 1 ? "partition" : "partitions") × \(folds) folds"
        func unsplit(_ why: String) -> Decision {
            Decision(ranges: [:], tasks: tasks, message: "train: \(what) for \(who): \(why)")
        }
        guard tasks > 0, workers.count > 1 else { return unsplit("one train task per (partition, fold)") }
        let wanted = workers.count / gcd(tasks, workers.count)
        guard wanted > 1 else { return unsplit("\(tasks) train tasks, as many per worker, one per (partition, fold)") }
        let minimum = max(1, minimumTreesPerRange)
        var ranges: [Int: [Range<Int>]] = [:]
        var total = 0
        for (p, share) in foldShares.enumerated() {
            let count = max(1, min(wanted, share / minimum))
            total += count * folds
            guard count >= 2 else { continue }
            let layout = FoldTreeLayout(folds: folds, share: share)
            ranges[p] = (0..<folds).flatMap { k in
                var first = layout.trees(ofFold: k).lowerBound
                return PartitionPlanner.treeShares(trees: share, partitions: count).map { n in
                    defer { first += n }
                    return first..<(first + n)
                }
            }
        }
        guard !ranges.isEmpty else { return unsplit("too few trees to split, one train task per (partition, fold)") }
        let detail = ranges.keys.sorted().map { p -> String in
            let perFold = ranges[p]!.count / folds
            return "p\(p)'s \(foldShares[p]) trees of each fold in \(perFold) ranges"
        }.joined(separator: "; ")
        return Decision(
            ranges: ranges, tasks: total,
            message:
                "train: \(what) for \(who): \(total) train tasks over tree ranges so that the workers finish together (\(detail))")
    }

    private static func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }

    private static func describe(_ workers: [Worker]) -> String {
        let cores = workers.sorted { $0.id < $1.id }.map { "\($0.id) \($0.cores) \($0.cores == 1 ? "core" : "cores")" }.joined(
            separator: ", ")
        return "\(workers.count) \(workers.count == 1 ? "worker" : "workers")\(workers.isEmpty ? "" : " (\(cores))")"
    }

    /// `treeShares[p]`: partition `p`'s share of the forest's trees.
    public static func decide(treeShares: [Int], workers: [Worker], minimumTreesPerRange: Int = 1) -> Decision {
        let partitions = treeShares.count
        let who = describe(workers)
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
