/// How a prediction job cuts its input into blocks of consecutive records
/// (`predict/pK` tasks). Pure.
///
/// A block's parsed rows and probabilities must fit a worker's budget, and
/// there are enough blocks to spread over workers (about `targetBlocks`,
/// never smaller than `minimumBlockRows`); the size depends on the data and
/// the memory limit, never on how many workers are connected. Block
/// boundaries fall on multiples of the index granule, so the coordinator
/// only remembers one file offset per granule.
public enum PredictionBlockPlan {
    public struct Model: Sendable, Hashable {
        /// Resident memory of an idle worker, bytes.
        public var baselineBytes: UInt64 = 48 << 20
        /// Share of the rest a block may use.
        public var usableFraction: Double = 0.5
        /// A loaded model costs about this many times its serialized size.
        public var modelExpansion: Double = 2
        public var targetBlocks = 16
        public var minimumBlockRows = 4096
        public init() {}
    }

    /// Bytes per block row on a worker: parsed features and probabilities (Float64), plus record bytes in flight.
    public static func bytesPerRow(features: Int, classes: Int) -> Int { 8 * features + 8 * classes + 16 }

    /// Rows per block (a multiple of `granule`), or the override rounded up to one.
    public static func blockRows(
        totalRows: Int, features: Int, classes: Int, modelBytes: UInt64, memoryLimit: UInt64,
        granule: Int, override: Int? = nil, model: Model = Model()
    ) -> Int {
        let granule = max(1, granule)
        func roundUp(_ n: Int) -> Int { max(granule, (n + granule - 1) / granule * granule) }
        if let override { return roundUp(max(1, override)) }
        let reserved = model.baselineBytes &+ UInt64(Double(modelBytes) * model.modelExpansion)
        let budget = memoryLimit > reserved ? Double(memoryLimit - reserved) * model.usableFraction : 0
        let fits = max(granule, Int(budget) / bytesPerRow(features: features, classes: classes) / granule * granule)
        let spread = roundUp(max(model.minimumBlockRows, (totalRows + model.targetBlocks - 1) / max(1, model.targetBlocks)))
        return min(fits, spread)
    }

    /// The record ranges of the blocks, in input order (at least one block, possibly empty).
    public static func blocks(totalRows: Int, blockRows: Int) -> [Range<Int>] {
        guard totalRows > 0 else { return [0..<0] }
        let size = max(1, blockRows)
        return stride(from: 0, to: totalRows, by: size).map { $0..<min(totalRows, $0 + size) }
    }
}
