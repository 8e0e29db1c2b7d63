/// Placeholder replaced below.
public enum PartitionPlanner {
    /// Splits `trees` over `partitions` as evenly as possible; the first
    /// `trees % partitions` partitions get one more. Deterministic.
    public static func treeShares(trees: Int, partitions: Int) -> [Int] {
        guard partitions > 0 else { return [] }
        let base = trees / partitions, extra = trees % partitions
        return (0..<partitions).map { base + ($0 < extra ? 1 : 0) }
    }
}
