import Forest
import SpaceTime

/// Chooses the number of partitions so that one partition's training working
/// set fits the smallest worker memory limit. The count depends only on the
/// data (its estimated size and shape), the model parameters and that limit,
/// never on how many workers are connected, so the same job always produces
/// the same partitions (and the same model).
public enum PartitionPlanner {
    /// What the plan is computed from.
    public struct Input: Sendable, Hashable {
        /// Total bytes of the input CSV files.
        public var dataBytes: UInt64
        /// Mean bytes per record in a sample of the data (the first records), including the line terminator.
        public var sampleBytesPerRow: Double
        /// Feature columns (all columns but the label).
        public var features: Int
        /// Histogram words per bin, as the learning task defines its histogram cell (the
        /// planner does not know what the words mean; at least 2 are assumed).
        public var histogramWordsPerBin: Int
        /// The smallest `--memory-limit` among the workers the job is planned for.
        public var memoryLimit: UInt64
        /// Fraction of rows held out for testing (they are not binned for training).
        public var testFraction: Double
        /// Threads a worker trains with; each needs its own histograms.
        public var threadsPerWorker: Int
        /// `--partitions`, when the user fixed the count.
        public var override: Int?

        public init(
            dataBytes: UInt64, sampleBytesPerRow: Double, features: Int, histogramWordsPerBin: Int, memoryLimit: UInt64,
            testFraction: Double = 0.2, threadsPerWorker: Int = 1, override: Int? = nil
        ) {
            self.dataBytes = dataBytes
            self.sampleBytesPerRow = sampleBytesPerRow
            self.features = features
            self.histogramWordsPerBin = histogramWordsPerBin
            self.memoryLimit = memoryLimit
            self.testFraction = testFraction
            self.threadsPerWorker = threadsPerWorker
            self.override = override
        }
    }

    /// Memory model constants (bytes), stated here so they can be checked against measurements.
    public struct Model: Sendable, Hashable {
        /// Resident memory of a worker before any task (runtime, ZeroMQ, buffers).
        public var baselineBytes: UInt64 = 48 << 20
        /// Share of the limit left after the baseline that a partition may use; the rest is slack
        /// for allocator fragmentation, I/O buffers and the current tree.
        public var usableFraction: Double = 0.7
        /// Per training row besides its binned features: row index (4), bootstrap count (1),
        /// label (2), node position scratch (4), spill read buffer share (~5).
        public var perRowOverheadBytes: UInt64 = 16
        /// Bins per feature (histograms are sized for the maximum).
        public var binsPerFeature: UInt64 = 256
        /// Histogram slots kept at once per thread (parent + two children, subtraction trick).
        public var histogramsPerThread: UInt64 = 3
        /// Bytes per histogram word (a UInt64).
        public var bytesPerHistogramWord: UInt64 = 8
        /// Margin on the estimated row count (the estimate comes from a sample).
        public var rowEstimateMargin: Double = 1.15
        /// Bytes of one tree in memory per training row of its partition, before any tree
        /// is checkpointed (afterwards the coordinator uses the stored trees' mean size).
        /// The 1M × 50 set's 100 unlimited-depth trees serialize to 157 MiB over 736K
        /// training rows, 2.2 B per row per tree (issue 12); node arrays grown by doubling
        /// may hold up to twice their contents, hence 4.5.
        public var treeBytesPerTrainingRow: Double = 4.5
        /// Resident bytes per byte of model blob while an evaluate or predict task loads it:
        /// the fetched blob, the byte array it is decoded from and the decoded model are all
        /// live at once (`BlobCache.load`).
        public var modelLoadFactor: Double = 3

        public init() {}
    }

    public struct Plan: Sendable, Hashable {
        public var partitions: Int
        public var estimatedRows: UInt64
        /// Estimated training rows per partition.
        public var rowsPerPartition: UInt64
        /// Estimated peak working set of one partition's training task: histograms,
        /// binned rows and their working set, and the trees in flight.
        public var workingSetBytes: UInt64
        /// The bytes of the limit a partition may use.
        public var budgetBytes: UInt64
        /// False when the limit is too small even for tiny partitions, or a
        /// `--partitions` override makes partitions that do not fit; `message` says why.
        public var fits: Bool
        public var message: String?
        /// The estimated training rows of each partition (what ``TreeSizeRule`` sizes trees from).
        public var partitionRows: [Int] { Array(repeating: Int(clamping: rowsPerPartition), count: partitions) }
    }

    /// Binned bytes + per-row overhead of one training row.
    public static func bytesPerTrainingRow(features: Int, model: Model = Model()) -> UInt64 {
        UInt64(max(1, features)) + model.perRowOverheadBytes
    }

    /// Bytes of the row-major copy of a partition's bins that training makes when the
    /// partition is large (``ForestTrainer/rowMajorBytes(rows:features:)``), 0 otherwise.
    public static func rowMajorCopyBytes(rows: UInt64, features: Int) -> UInt64 {
        UInt64(ForestTrainer.rowMajorBytes(rows: Int(clamping: rows), features: max(1, features)))
    }

    /// Trees a train task holds at once: one per thread being grown, plus a
    /// checkpoint batch of `checkpointEvery` finished trees not yet sent.
    public static func treesInFlight(threads: Int, checkpointEvery: Int) -> Int {
        max(1, threads) + max(1, checkpointEvery)
    }

    /// Estimated bytes of one tree grown on `rows` training rows.
    public static func treeBytes(rows: UInt64, model: Model = Model()) -> UInt64 {
        UInt64((Double(rows) * model.treeBytesPerTrainingRow).rounded(.up))
    }

    /// Histogram memory of one worker: independent of the row count.
    /// `histogramWordsPerBin` is the task's histogram cell size in words (at least 2 are assumed).
    public static func histogramBytes(features: Int, histogramWordsPerBin: Int, threads: Int, model: Model = Model()) -> UInt64 {
        UInt64(max(1, features)) * model.binsPerFeature * UInt64(max(2, histogramWordsPerBin)) * model.bytesPerHistogramWord
            * model.histogramsPerThread * UInt64(max(1, threads))
    }

    public static func plan(_ input: Input, model: Model = Model()) -> Plan {
        let rowBytes = max(1, input.sampleBytesPerRow)
        let estimatedRows = UInt64((Double(input.dataBytes) / rowBytes * model.rowEstimateMargin).rounded(.up))
        let trainFraction = min(1, max(0, 1 - input.testFraction))
        let trainRows = UInt64((Double(estimatedRows) * trainFraction).rounded(.up))
        // A row's share of the trees in flight counts like its binned bytes.
        let treeShare = UInt64(
            (Double(treesInFlight(threads: input.threadsPerWorker, checkpointEvery: 1)) * model.treeBytesPerTrainingRow).rounded(.up))
        // Partitions large enough to matter here are copied row-major while they train: counted always.
        let perRow = bytesPerTrainingRow(features: input.features, model: model) + treeShare + UInt64(max(1, input.features))
        let fixed = histogramBytes(
            features: input.features, histogramWordsPerBin: input.histogramWordsPerBin, threads: input.threadsPerWorker, model: model)
        let afterBaseline = input.memoryLimit > model.baselineBytes ? input.memoryLimit - model.baselineBytes : 0
        let budget = UInt64(Double(afterBaseline) * model.usableFraction)

        func workingSet(_ rows: UInt64) -> UInt64 { fixed + rows * perRow }

        if let forced = input.override {
            let p = max(1, forced)
            let rows = (trainRows + UInt64(p) - 1) / UInt64(p)
            let ws = workingSet(rows)
            let fits = ws <= budget
            return Plan(
                partitions: p, estimatedRows: estimatedRows, rowsPerPartition: rows, workingSetBytes: ws,
                budgetBytes: budget, fits: fits,
                message: fits
                    ? nil
                    : "--partitions \(p) gives ~\(rows) training rows per partition needing ~\(ByteCount(ws)), more than the \(ByteCount(budget)) a worker with a \(ByteCount(input.memoryLimit)) limit can give it"
            )
        }
        guard budget > fixed + perRow else {
            return Plan(
                partitions: 1, estimatedRows: estimatedRows, rowsPerPartition: trainRows,
                workingSetBytes: workingSet(trainRows), budgetBytes: budget, fits: false,
                message:
                    "a \(ByteCount(input.memoryLimit)) memory limit leaves \(ByteCount(budget)) for training, less than the \(ByteCount(fixed)) of histograms alone for \(input.features) features; raise --memory-limit"
            )
        }
        let maxRows = (budget - fixed) / perRow
        let partitions = max(1, Int((trainRows + maxRows - 1) / maxRows))
        let rows = (trainRows + UInt64(partitions) - 1) / UInt64(partitions)
        return Plan(
            partitions: partitions, estimatedRows: estimatedRows, rowsPerPartition: rows,
            workingSetBytes: workingSet(rows), budgetBytes: budget, fits: true, message: nil)
    }

    /// Splits `trees` over `partitions` as evenly as possible; the first
    /// `trees % partitions` partitions get one more. Deterministic.
    public static func treeShares(trees: Int, partitions: Int) -> [Int] {
        guard partitions > 0 else { return [] }
        let base = trees / partitions
        let extra = trees % partitions
        return (0..<partitions).map { base + ($0 < extra ? 1 : 0) }
    }
}
