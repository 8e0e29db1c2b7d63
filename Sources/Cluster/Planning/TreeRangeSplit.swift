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
/// A cross-validation job of K folds (over G grid points) has K·G train tasks per
/// partition, one per (point, fold) block of its ``FoldTreeLayout``
/// (`decide(foldLayouts:workers:)`). When the tasks do not divide evenly over the W
/// workers, each is cut in m = W / gcd(tasks, W) ranges, so that the tasks of about s/m
/// trees each keep every worker busy to the end (at most one range per
/// `minimumTreesPerRange` trees of the partition's smallest block).
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

    /// `layouts[p]`: where partition `p`'s trees sit among the job's (point, fold) forests,
    /// each block one train task. The ranges returned for a partition cover its trees and cut
    /// every block in the same number of ranges.
    public static func decide(foldLayouts layouts: [FoldTreeLayout], workers: [Worker], minimumTreesPerRange: Int = 1) -> Decision {
        let partitions = layouts.count
        let blocks = layouts.first.map { $0.variants.count } ?? 0
        let tasks = layouts.reduce(0) { $0 + $1.variants.count }
        let who = describe(workers)
        let points = layouts.first?.points ?? 1
        let folds = layouts.first?.folds ?? 0
        let unit = points > 1 ? "(partition, point, fold)" : "(partition, fold)"
        let what =
            "\(partitions) \(partitions == 1 ? "partition" : "partitions") × \(folds) folds" + (points > 1 ? " × \(points) points" : "")
        func unsplit(_ why: String) -> Decision {
            Decision(ranges: [:], tasks: tasks, message: "train: \(what) for \(who): \(why)")
        }
        guard tasks > 0, workers.count > 1 else { return unsplit("one train task per \(unit)") }
        let wanted = workers.count / gcd(tasks, workers.count)
        guard wanted > 1 else { return unsplit("\(tasks) train tasks, as many per worker, one per \(unit)") }
        let minimum = max(1, minimumTreesPerRange)
        var ranges: [Int: [Range<Int>]] = [:]
        var total = 0
        for (p, layout) in layouts.enumerated() {
            let smallest = layout.shares.filter { $0 > 0 }.min() ?? 0
            let count = max(1, min(wanted, smallest / minimum))
            total += count * layout.variants.count
            guard count >= 2 else { continue }
            ranges[p] = layout.variants.flatMap { block -> [Range<Int>] in
                let trees = block.treeRange ?? 0..<0
                var first = trees.lowerBound
                return PartitionPlanner.treeShares(trees: trees.count, partitions: count).map { n in
                    defer { first += n }
                    return first..<(first + n)
                }
            }
        }
        guard !ranges.isEmpty else { return unsplit("too few trees to split, one train task per \(unit)") }
        let detail = ranges.keys.sorted().map { p -> String in
            let perBlock = ranges[p]!.count / max(1, blocks)
            let shares = layouts[p].shares.map(String.init).joined(separator: "/")
            return "p\(p)'s \(shares) trees of each fold in \(perBlock) ranges"
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
