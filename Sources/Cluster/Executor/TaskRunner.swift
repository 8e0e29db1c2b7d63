import Forest
import Foundation
import Locking
import Logging
import SpaceTime

/// One task kind's steps on this worker. `makeAttempt` runs on the DEALER thread,
/// `parse` and `rowsComplete` on the attempt's parse queue, `run` on the attempt's own
/// thread once its rows are complete and its extractor or model is loaded.
protocol TaskRunner: Sendable {
    /// Builds the attempt (not yet published), or refuses the assignment.
    func makeAttempt(_ a: TaskAssignment, _ configuration: AttemptConfiguration) throws(TaskFailure) -> ExecutorAttempt
    /// How many rows `rows_end` says this attempt receives (counted by `parse`).
    func expectedRows(_ end: WireRowsEnd, _ attempt: ExecutorAttempt) -> UInt64
    /// Parses one row batch: the failure to report, if any.
    func parse(_ attempt: ExecutorAttempt, _ batch: WireRowBatch, _ payload: Data) -> WorkerEvent?
    /// All rows arrived and were counted: the attempt's last events if it ends here, or
    /// nil to run it once its blob is loaded.
    func rowsComplete(_ attempt: ExecutorAttempt) -> [WorkerEvent]?
    /// Runs the task: its last event (`done` or `failed`).
    func run(_ attempt: ExecutorAttempt, _ blob: BlobCache.Blob) -> WorkerEvent
}

extension TaskRunner {
    func expectedRows(_ end: WireRowsEnd, _ attempt: ExecutorAttempt) -> UInt64 { end.rows }
    func rowsComplete(_ attempt: ExecutorAttempt) -> [WorkerEvent]? { nil }
}

/// What a row batch says of one record besides its bytes and line.
struct StreamedRow {
    /// A test row (the batch's `test_mask`).
    var isTest: Bool
    /// A cross-validation job's record: its fold (the batch's `folds`).
    var fold: Int?
}

/// Where events produced later (off the DEALER thread) go: the `WorkerClient`, once
/// attached. Set on the caller's thread, read from the parse queues and run threads.
final class EventOutlet: @unchecked Sendable {  // `client` under `lock`
    private let lock = Lock()
    private var client: WorkerClient?

    func attach(_ client: WorkerClient) { lock.withLock { self.client = client } }

    func post(_ event: WorkerEvent) { lock.withLock { client }?.post(event) }
}

/// What the runners share: options, the attempt registry, the spill directory and the
/// event outlet, with the steps common to every kind (failing an attempt, the row batch
/// parse loop, binning a partition). Immutable, used from any thread.
struct ExecutorContext: Sendable {
    let options: ForestTaskExecutor.Options
    let registry: AttemptRegistry
    let spillDirectory: SpillDirectory
    let outlet: EventOutlet

    func post(_ event: WorkerEvent) { outlet.post(event) }

    /// The log of attempt `a`'s lines: the worker's, with the task and attempt.
    func logger(for a: TaskAssignment) -> Logger {
        options.logger.with(.about(task: a.taskName, attempt: a.attemptID))
    }

    /// The attempt's peak RSS so far, sampling now.
    func taskPeak(_ a: ExecutorAttempt) -> UInt64 {
        registry.peak(of: a, rss: UInt64(MemorySample.current().rss))
    }

    func seconds(since start: ContinuousClock.Instant) -> Double { start.duration(to: .now).seconds }

    /// Removes the attempt and returns its `failed` event.
    func fail(_ a: TaskAssignment, _ failure: TaskFailure) -> WorkerEvent {
        let attempt = registry.remove(a.attemptID)
        let peak = attempt.map(taskPeak) ?? UInt64(MemorySample.current().rss)
        if a.kind == .extract { attempt?.closeParsedRows() }
        let message = failure.message
        logger(for: a).warning("attempt \(a.attemptID) failed: \(message)")
        var reported = failure
        reported.message = String(message.prefix(4000))
        return .failed(attemptID: a.attemptID, failure: reported, peakRSS: peak)
    }

    /// Removes the attempt and returns its `failed` event, for a failure of `reason` the
    /// executor itself detects.
    func fail(_ a: TaskAssignment, _ reason: TaskFailure.Reason, _ message: String, retryable: Bool) -> WorkerEvent {
        fail(a, TaskFailure(reason, message, retryable: retryable))
    }

    /// The `failed` event for an error a train or evaluate run threw, mapped by
    /// ``TaskFailure/init(_:)``: bad input is final and its message names the file and line;
    /// any other message is prefixed by the task's step and partition.
    func runFailure(_ error: any Error, _ a: TaskAssignment, step: String) -> WorkerEvent {
        let failure = TaskFailure(error)
        return fail(a, failure.reason == .badInput ? failure : failure.prefixed("\(step)/p\(a.partition)"))
    }

    /// The parse loop every runner shares: splits a row batch into its records,
    /// `body(record bytes, line, isTest)` for each, with `attempt.record` named after the
    /// batch's file; a `source_file` beyond the job's files, a length beyond the payload or an
    /// error from `body` fails the attempt. Returns the number of records `body` accepted (it
    /// returns false for a record it skips) and the failure, if any.
    func forEachRecord(
        _ attempt: ExecutorAttempt, _ batch: WireRowBatch, _ payload: Data,
        _ body: (UnsafeRawBufferPointer, UInt64, StreamedRow) throws -> Bool
    ) -> (accepted: UInt64, failure: WorkerEvent?) {
        let a = attempt.assignment
        guard let file = attempt.fileName(batch.sourceFile) else {
            return (
                0,
                fail(
                    a, .protocol,
                    "row batch \(batch.batchSeq): source file \(batch.sourceFile) of a job with \(attempt.parameters.files.count) file(s)",
                    retryable: true)
            )
        }
        attempt.record.file = file
        var line = batch.firstLine
        var offset = 0
        var accepted: UInt64 = 0
        let failure = payload.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> WorkerEvent? in
            for i in 0..<batch.recordLengths.count {
                if i > 0 { line += UInt64(batch.lineDeltas[i - 1]) }
                let length = Int(batch.recordLengths[i])
                let isTest = i / 8 < batch.testMask.count && batch.testMask[batch.testMask.startIndex + i / 8] & (1 << UInt8(i % 8)) != 0
                let fold = i < batch.folds.count ? Int(batch.folds[batch.folds.startIndex + i]) : nil
                defer { offset += length }
                guard offset + length <= raw.count else {
                    return fail(a, .protocol, "row batch \(batch.batchSeq): record lengths exceed the payload", retryable: true)
                }
                do {
                    let row = StreamedRow(isTest: isTest, fold: fold)
                    if try body(UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + length)]), line, row) { accepted += 1 }
                } catch {
                    // An I/O failure here is the spill's; any other is at the record's line unless it names its own.
                    let failure = TaskFailure(error)
                    return fail(
                        a,
                        failure.reason == .io
                            ? failure.prefixed("spill directory \(spillDirectory.path)")
                            : failure.located(file: file, line: Int(clamping: line)))
                }
            }
            return nil
        }
        return (accepted, failure)
    }

    /// A partition loader in the spill directory for the job's schema, deriving the job's
    /// features with the derivation this executable registers under its identifier; a
    /// derivation it does not register refuses the attempt (final: another attempt here fails alike).
    func partitionLoader(_ parameters: ForestJobParameters) throws(TaskFailure) -> PartitionLoader {
        PartitionLoader(
            parser: RecordParser(schema: parameters.schema, sampledRows: parameters.sampledRows),
            derivation: try derivation(parameters), directory: spillDirectory, memoryBytes: options.rowMemoryBytes)
    }

    /// A cross-validation extract attempt's partition: a loader per fold of the job, sharing the row memory.
    func foldedPartition(_ parameters: ForestJobParameters) throws(TaskFailure) -> FoldedPartition {
        FoldedPartition(
            folds: parameters.folds, parser: RecordParser(schema: parameters.schema, sampledRows: parameters.sampledRows),
            derivation: try derivation(parameters), directory: spillDirectory, memoryBytes: options.rowMemoryBytes,
            keepLines: parameters.keepPredictions)
    }

    private func derivation(_ parameters: ForestJobParameters) throws(TaskFailure) -> (any FeatureDerivation)? {
        guard !parameters.derivation.isEmpty else { return nil }
        do { return try options.derivations.derivation(parameters.derivation, inputNames: parameters.schema.featureNames) } catch {
            throw TaskFailure(.internal, "this worker cannot run the job: \(error.message)", retryable: false)
        }
    }

    /// Parses an extract (or streamed train / evaluate) attempt's records into its
    /// partition; `keep(isTest)` says which records the attempt takes.
    func parsePartitionRows(
        _ attempt: ExecutorAttempt, _ batch: WireRowBatch, _ payload: Data,
        keep: (Bool) -> Bool
    ) -> WorkerEvent? {
        guard let loader = attempt.loader, !registry.isCancelled(attempt) else { return nil }
        let (accepted, failure) = forEachRecord(attempt, batch, payload) { bytes, line, row in
            guard keep(row.isTest) else { return false }
            try attempt.record.parse(raw: bytes, line: Int(line))
            try loader.add(attempt.record, isTest: row.isTest, line: line)
            return true
        }
        registry.addReceived(attempt, accepted)
        return failure
    }

    /// Parses a cross-validation attempt's records, each tagged with its fold, into the
    /// attempt's ``FoldedPartition`` (every record: `rows_end` counts them all), so that a
    /// streamed train or evaluate attempt bins the same rows in the same order as one reading
    /// the extract's spill. A record without a fold fails the attempt.
    func parseFoldRows(_ attempt: ExecutorAttempt, _ batch: WireRowBatch, _ payload: Data) -> WorkerEvent? {
        guard let folded = attempt.folded, !registry.isCancelled(attempt) else { return nil }
        let (accepted, failure) = forEachRecord(attempt, batch, payload) { bytes, line, row in
            guard let fold = row.fold else {
                throw PipelineError(.protocol, "row batch \(batch.batchSeq) of a cross-validation task carries no folds")
            }
            try attempt.record.parse(raw: bytes, line: Int(line))
            try folded.add(attempt.record, fold: fold, line: line)
            return true
        }
        registry.addReceived(attempt, accepted)
        return failure
    }

    /// Bins the partition's training or test rows with `extractor`.
    func bin(_ attempt: ExecutorAttempt, extractor: FeatureExtractor, test: Bool) throws -> BinnedPartition {
        guard let rows = attempt.rows else { throw PipelineError(.missingSpill, "no rows") }
        return try rows.bin(extractor: extractor, test: test, threads: options.threads, source: attempt.parameters.source)
    }
}
