import Foundation

/// A task attempt a worker was assigned, in domain types: what the worker engine, the
/// admission check and the executor read. It is built from the wire message once, at the
/// worker's edge (``init(wire:)``, after ``MessageValidator`` checked it).
public struct TaskAssignment: Sendable, Hashable {
    /// Where a task's rows come from.
    public enum RowSource: Sendable, Hashable {
        /// The coordinator streams them (`row_batch` messages).
        case streamed
        /// The worker reads the spill of extract attempt `spillAttemptID`.
        case localSpill
    }

    /// A blob the task needs (an extractor or a model): inline, or by reference to fetch in chunks.
    public enum Blob: Sendable, Hashable {
        case inline(Data)
        /// A 32-byte digest and the blob's size in bytes.
        case reference(digest: Data, size: UInt64)
    }

    /// The job's CSV layout as the coordinator sends it: the raw header record, the target
    /// column (0-based), the field delimiter and the column count.
    public struct CSVSchema: Sendable, Hashable {
        public var headerRecord: Data
        public var labelColumn: Int
        public var delimiter: UInt8
        public var columnCount: Int
    }

    public var jobID: String
    public var taskID: UInt64
    public var attemptID: UInt64
    public var kind: TaskKind
    public var partition: Int
    public var variant: TaskVariant
    /// The job's seed (the forest parameters carry it too).
    public var seed: UInt64
    /// The job's opaque parameters (``ForestJobParameters`` or ``PredictionParameters``).
    public var parameters: Data
    public var schema: CSVSchema
    public var source: RowSource
    /// The extract attempt whose spill holds the rows (a local-spill task), or whose spill a
    /// streamed fold task's rows are kept as a copy of; 0 for none.
    public var spillAttemptID: UInt64
    /// Rows the task reads, and of them the training and test rows (0: not told).
    public var expectedRows: UInt64
    public var expectedTrainRows: UInt64
    public var expectedTestRows: UInt64
    /// Train: the tree indices still to grow, the partition's trees and the checkpoint cadence (trees).
    public var trees: Range<Int>
    public var treesInPartition: Int
    public var checkpointEvery: Int
    /// Histogram words per bin of the job's task (0: unknown), for the admission check.
    public var histogramWordsPerBin: Int
    /// The coordinator's estimate of one tree's serialized bytes (0: none).
    public var expectedTreeBytes: UInt64
    public var extractor: Blob?
    public var model: Blob?

    /// The task's name in messages and log metadata: `train/p3`, `predict/p0.t0-50`.
    public var taskName: String { TaskName(kind, partition, variant).description }

    /// The blob the task waits for before it runs: the extractor of a train task, the model
    /// of a task that scores; nil for extraction.
    public var blob: Blob? {
        switch kind {
        case .extract: nil
        case .train: extractor
        case .evaluate, .predict: model
        }
    }

    /// Whether the worker keeps this attempt's streamed rows, once it is done, as a copy of
    /// the spill of extract attempt `spillAttemptID`: a cross-validation fold task (train or
    /// evaluate) is streamed every row of its partition, dealt into folds as the extract
    /// dealt them, so later fold tasks of the partition can read them on this worker too.
    public var keepsStreamedRowsAsCopy: Bool {
        Self.keepsStreamedRowsAsCopy(
            streamed: source == .streamed, spillAttemptID: spillAttemptID, task: TaskName(kind, partition, variant))
    }

    /// The rule of ``keepsStreamedRowsAsCopy`` for `task`, as the coordinator applies it to
    /// the assignment it sends.
    public static func keepsStreamedRowsAsCopy(streamed: Bool, spillAttemptID: UInt64, task: TaskName) -> Bool {
        streamed && spillAttemptID != 0 && task.kind.readsPartitionRows && task.variant.fold != nil
    }
}
