import Forest
import Foundation
import Locking
import SpaceTime

/// One task kind's steps on this worker. `makeAttempt` runs on the DEALER thread,
/// `parse` and `rowsComplete` on the attempt's parse queue, `run` on the attempt's own
/// thread once its rows are complete and its extractor or model is loaded.
protocol TaskRunner: Sendable {
    /// Builds the attempt (not yet published), or refuses the assignment.
    func makeAttempt(_ a: WireTaskAssignment, _ configuration: AttemptConfiguration) throws(AttemptRefusal) -> ExecutorAttempt
    /// How many rows `rows_end` says this kind of attempt receives.
    func expectedRows(_ end: WireRowsEnd) -> UInt64
    /// Parses one row batch: the failure to report, if any.
    func parse(_ attempt: ExecutorAttempt, _ batch: WireRowBatch, _ payload: Data) -> WorkerEvent?
    /// All rows arrived and were counted: the attempt's last events if it ends here, or
    /// nil to run it once its blob is loaded.
    func rowsComplete(_ attempt: ExecutorAttempt) -> [WorkerEvent]?
    /// Runs the task: its last event (`done` or `failed`).
    func run(_ attempt: ExecutorAttempt, _ blob: BlobCache.Blob) -> WorkerEvent
}

extension TaskRunner {
    func expectedRows(_ end: WireRowsEnd) -> UInt64 { end.rows }
    func rowsComplete(_ attempt: ExecutorAttempt) -> [WorkerEvent]? { nil }
}

/// An assignment a runner will not start: the failure to report.
struct AttemptRefusal: Error {
    let reason: WireFailureReason
    let message: String
    let retryable: Bool
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

    func log(_ level: CoordinatorLogLevel, _ line: String) { options.log(level, line) }

    /// The attempt's peak RSS so far, sampling now.
    func taskPeak(_ a: ExecutorAttempt) -> UInt64 {
        registry.peak(of: a, rss: UInt64(MemorySample.current().rss))
    }

    func seconds(since start: ContinuousClock.Instant) -> Double { start.duration(to: .now).seconds }

    /// Removes the attempt and returns its `failed` event.
    func fail(
        _ a: WireTaskAssignment, _ reason: WireFailureReason, _ message: String, line: UInt64 = 0,
        column: UInt32 = 0, retryable: Bool
    ) -> WorkerEvent {
        let attempt = registry.remove(a.attemptID)
        let peak = attempt.map(taskPeak) ?? UInt64(MemorySample.current().rss)
        if a.kind == .extract { attempt?.rows?.close() }
        options.log(.warning, "attempt \(a.attemptID) failed: \(message)")
        return .failed(
            attemptID: a.attemptID, reason: reason, message: String(message.prefix(4000)), line: line, column: column,
            retryable: retryable, peakRSS: peak)
    }

    /// The `failed` event for an error a train or evaluate run threw: bad input is final
    /// (it names the file and line), anything else may succeed elsewhere.
    func runFailure(_ error: any Error, _ a: WireTaskAssignment, step: String) -> WorkerEvent {
        if let e = error as? PipelineError, e.code == .badInput { return fail(a, .badInput, e.message, retryable: false) }
        return fail(a, .internal, "\(step)/p\(a.partition): \(error)", retryable: true)
    }

    /// The parse loop every runner shares: splits a row batch into its records,
    /// `body(record bytes, line, isTest)` for each, with `attempt.record` named after the
    /// batch's file; a `source_file` beyond the job's files, a length beyond the payload or an
    /// error from `body` fails the attempt. Returns the number of records `body` accepted (it
    /// returns false for a record it skips) and the failure, if any.
    func forEachRecord(
        _ attempt: ExecutorAttempt, _ batch: WireRowBatch, _ payload: Data,
        _ body: (UnsafeRawBufferPointer, UInt64, Bool) throws -> Bool
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
                defer { offset += length }
                guard offset + length <= raw.count else {
                    return fail(a, .protocol, "row batch \(batch.batchSeq): record lengths exceed the payload", retryable: true)
                }
                do {
                    if try body(UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + length)]), line, isTest) { accepted += 1 }
                } catch let e as CSVError {
                    return fail(
                        a, .badInput, e.description, line: UInt64(e.line ?? Int(line)),
                        column: UInt32(clamping: e.column ?? 0), retryable: false)
                } catch let e as SpillError {
                    return fail(a, .io, "spill directory \(spillDirectory.path): \(e)", retryable: true)
                } catch {
                    return fail(a, .badInput, "\(error)", line: line, retryable: false)
                }
            }
            return nil
        }
        return (accepted, failure)
    }

    /// A partition loader in the spill directory for the job's schema, deriving the job's
    /// features with the derivation this executable registers under its identifier; a
    /// derivation it does not register refuses the attempt (final: another attempt here fails alike).
    func partitionLoader(_ parameters: ForestJobParameters) throws(AttemptRefusal) -> PartitionLoader {
        var derivation: (any FeatureDerivation)?
        if !parameters.derivation.isEmpty {
            do { derivation = try options.derivations.derivation(parameters.derivation, inputNames: parameters.schema.featureNames) } catch
            { throw AttemptRefusal(reason: .internal, message: "this worker cannot run the job: \(error.message)", retryable: false) }
        }
        return PartitionLoader(
            parser: RecordParser(schema: parameters.schema, sampledRows: parameters.sampledRows),
            derivation: derivation, directory: spillDirectory, memoryBytes: options.rowMemoryBytes)
    }

    /// Parses an extract (or streamed train / evaluate) attempt's records into its
    /// partition; `keep(isTest)` says which records the attempt takes.
    func parsePartitionRows(
        _ attempt: ExecutorAttempt, _ batch: WireRowBatch, _ payload: Data,
        keep: (Bool) -> Bool
    ) -> WorkerEvent? {
        guard let loader = attempt.loader, !registry.isCancelled(attempt) else { return nil }
        let (accepted, failure) = forEachRecord(attempt, batch, payload) { bytes, line, isTest in
            guard keep(isTest) else { return false }
            try attempt.record.parse(raw: bytes, line: Int(line))
            try loader.add(attempt.record, isTest: isTest, line: line)
            return true
        }
        registry.addReceived(attempt, accepted)
        return failure
    }

    /// Bins the partition's training or test rows with `extractor`.
    func bin(_ attempt: ExecutorAttempt, extractor: FeatureExtractor, test: Bool) throws -> BinnedPartition {
        guard let rows = attempt.rows else { throw PipelineError(.missingSpill, "no rows") }
        do {
            return try rows.bin(extractor: extractor, test: test, threads: options.threads, source: attempt.parameters.source)
        } catch let e as ForestError where e.code == .invalidData {
            throw PipelineError(.badInput, e.message)
        }
    }
}
