import Forest
import Foundation
import Locking
import SpaceTime

/// What an assignment decodes to before its attempt exists: the CSV layout of the
/// streamed records, the job's parameters and, for a predict task, the columns to parse.
struct AttemptConfiguration: Sendable {
    let layout: CSVLayout
    let parameters: ForestJobParameters
    let prediction: PredictionParameters?

    /// A task that streams predictions belongs to a prediction job: its parameters are
    /// ``PredictionParameters``; every other task's are ``ForestJobParameters``.
    init(_ a: TaskAssignment) throws {
        if a.kind.streamsPredictions {
            let names = try CSVLayout.headerNames(a.schema)
            let p = try PredictionParameters(deserializing: a.parameters, columns: names.count)
            prediction = p
            layout = CSVLayout(header: names, labelIndex: a.schema.labelColumn, delimiter: a.schema.delimiter)
            parameters = ForestJobParameters(forest: ForestParameters(), schema: p.schema, source: p.source)
        } else {
            layout = try CSVLayout(schema: a.schema)
            parameters = try ForestJobParameters(deserializing: a.parameters)
            prediction = nil
        }
    }
}

/// A predict attempt's block: the columns to parse, the derivation applied to them, and the
/// parsed (derived) rows and their lines. Filled on the attempt's parse queue, then read by
/// its run thread, which starts only after the parse queue marked the rows complete under
/// the registry's lock.
// @unchecked: one thread at a time: parse queue, then run thread (handed over through the registry's lock).
final class PredictionBlock: @unchecked Sendable {
    let parameters: PredictionParameters
    let derivation: (any FeatureDerivation)?
    /// Values per row the model scores: the derivation's outputs, or the parsed features.
    let featureCount: Int
    var values: [Double] = []
    var lines: [UInt64] = []
    /// One row's parsed features, reused from row to row.
    var features: [Double]
    /// One row's derived features (with a derivation), reused from row to row.
    var derived: [Double]
    /// Transform rows with the label column: each row's class label (classification) or
    /// target (regression), in row order.
    var labels: [String] = []
    var targets: [Double] = []
    /// Whether the rows' labels are read (transform rows of an input with the label column).
    var readsLabels: Bool { parameters.output == .transformRows && parameters.schema.targetIndex != nil }

    init(_ parameters: PredictionParameters, derivation: (any FeatureDerivation)?) {
        self.parameters = parameters
        self.derivation = derivation
        let inputs = parameters.schema.featureCount
        featureCount = derivation?.outputNames(inputNames: parameters.schema.featureNames).count ?? inputs
        features = Array(repeating: 0, count: inputs)
        derived = Array(repeating: 0, count: derivation == nil ? 0 : featureCount)
    }
}

/// The mutable part of an attempt; only `AttemptRegistry` touches it, under its lock.
struct AttemptState {
    /// Rows parsed so far (added once per batch by the parse queue).
    var received: UInt64 = 0
    var rowsComplete = false
    var launched = false
    var cancelled = false
    var peak: UInt64 = 0
}

/// One task attempt on this worker. Everything but `state` is fixed before the attempt
/// is published in the `AttemptRegistry` (the DEALER thread builds it) and read from any
/// thread; `record` and `prediction`'s buffers are the parse queue's (then the run thread's).
// @unchecked: immutable after publication except `state` (registry's lock) and the parse scratch (parse queue).
final class ExecutorAttempt: @unchecked Sendable {
    let assignment: TaskAssignment
    let layout: CSVLayout
    let parameters: ForestJobParameters
    /// The extractor (train, transform rows) or model (evaluate, predict) the attempt needs.
    let blobDigest: Data?
    /// Extract and streamed train/evaluate attempts: the partition's parse step.
    let loader: PartitionLoader?
    /// The partition's rows: parsed here (`loader.rows`) or kept by an earlier extract attempt.
    let rows: PartitionRowStore?
    /// A cross-validation job's partition, its rows dealt into folds: parsed here (extract) or
    /// kept by an earlier extract attempt (train, evaluate).
    let folded: FoldedPartition?
    let prediction: PredictionBlock?
    /// The record each raw row is parsed into (parse queue only).
    let record: CSVRecord
    /// The data set's name as the job's parameters give it, for records of the single input.
    let inputName: String
    let started = ContinuousClock.now
    /// Row batches are parsed here, in arrival order, off the DEALER thread.
    let parseQueue = DispatchQueue(label: "spacetime.parse")
    fileprivate var state: AttemptState
    var id: UInt64 { assignment.attemptID }

    init(
        _ a: TaskAssignment, _ configuration: AttemptConfiguration, loader: PartitionLoader? = nil,
        rows: PartitionRowStore? = nil, folded: FoldedPartition? = nil, prediction: PredictionBlock? = nil,
        rowsComplete: Bool = false
    ) {
        assignment = a
        layout = configuration.layout
        parameters = configuration.parameters
        switch a.blob {
        case .inline(let data)?: blobDigest = Digest.of(data)
        case .reference(let digest, _)?: blobDigest = digest
        case nil: blobDigest = nil
        }
        self.loader = loader
        self.rows = rows
        self.folded = folded
        self.prediction = prediction
        let source = configuration.parameters.source
        inputName = source.isEmpty ? "input" : source
        record = CSVRecord(header: layout.header, file: inputName, options: layout.csvOptions)
        state = AttemptState(rowsComplete: rowsComplete)
    }

    /// The name a row batch's records are located by: for `source_file` 0 the job's input,
    /// for k ≥ 1 the job's k-th file; nil beyond the job's files.
    func fileName(_ sourceFile: UInt32) -> String? {
        if sourceFile == 0 { return inputName }
        let files = parameters.files
        return Int(sourceFile) <= files.count ? files[Int(sourceFile) - 1] : nil
    }
}

/// The attempts running on this worker by id, the partitions finished extract attempts
/// keep (by extract attempt id) and the last memory sample. Used from the DEALER thread,
/// the parse queues, the run threads and the memory sampler; everything is under `lock`,
/// including every attempt's `state`.
final class AttemptRegistry: @unchecked Sendable {  // all mutable state under `lock`
    private let lock = Lock()
    private var attempts: [UInt64: ExecutorAttempt] = [:]
    private var spills: [UInt64: KeptRows] = [:]
    private var lastRSS: UInt64 = 0

    /// Publishes a fully built attempt; its peak starts at the last sample.
    func publish(_ attempt: ExecutorAttempt) {
        lock.withLock {
            attempt.state.peak = lastRSS
            attempts[attempt.id] = attempt
        }
    }

    func attempt(_ id: UInt64) -> ExecutorAttempt? { lock.withLock { attempts[id] } }

    /// The attempt, if it still takes row batches (published, rows not complete).
    func acceptingRows(_ id: UInt64) -> ExecutorAttempt? {
        lock.withLock { attempts[id].flatMap { $0.state.rowsComplete ? nil : $0 } }
    }

    /// Removes the attempt (it ended, failed or was cancelled).
    @discardableResult
    func remove(_ id: UInt64) -> ExecutorAttempt? { lock.withLock { attempts.removeValue(forKey: id) } }

    /// Removes and cancels the attempt; `lastWaiter` tells whether no other attempt needs its blob.
    func cancel(_ id: UInt64) -> (attempt: ExecutorAttempt, lastWaiter: Bool)? {
        lock.withLock {
            guard let a = attempts.removeValue(forKey: id) else { return nil }
            a.state.cancelled = true
            let digest = a.blobDigest
            return (a, digest == nil || !attempts.values.contains { $0.blobDigest == digest })
        }
    }

    /// Marks every attempt cancelled (the worker exits); they stay registered.
    func cancelAll() {
        lock.withLock { for a in attempts.values { a.state.cancelled = true } }
    }

    /// Cancels and removes every attempt: each with its peak RSS, by id.
    func abandonAll() -> [(attempt: ExecutorAttempt, peak: UInt64)] {
        lock.withLock {
            let all = attempts.values.sorted { $0.id < $1.id }
            attempts.removeAll()
            return all.map { (a: ExecutorAttempt) -> (attempt: ExecutorAttempt, peak: UInt64) in
                a.state.cancelled = true
                return (a, max(a.state.peak, lastRSS))
            }
        }
    }

    /// Records a memory sample: raises running attempts' peaks.
    func sample(rss: UInt64) {
        lock.withLock {
            lastRSS = rss
            for a in attempts.values { a.state.peak = max(a.state.peak, rss) }
        }
    }

    /// The attempt's peak RSS, counting `rss` (sampled now).
    func peak(of attempt: ExecutorAttempt, rss: UInt64) -> UInt64 { lock.withLock { max(attempt.state.peak, rss) } }

    func isCancelled(_ attempt: ExecutorAttempt) -> Bool { lock.withLock { attempt.state.cancelled } }

    func addReceived(_ attempt: ExecutorAttempt, _ rows: UInt64) { lock.withLock { attempt.state.received += rows } }

    func received(_ attempt: ExecutorAttempt) -> UInt64 { lock.withLock { attempt.state.received } }

    func markRowsComplete(_ attempt: ExecutorAttempt) { lock.withLock { attempt.state.rowsComplete = true } }

    func rowsAreComplete(_ attempt: ExecutorAttempt) -> Bool { lock.withLock { attempt.state.rowsComplete } }

    /// True once, when the attempt's rows are complete: the caller launches it.
    func beginLaunch(_ attempt: ExecutorAttempt) -> Bool {
        lock.withLock {
            guard !attempt.state.launched, attempt.state.rowsComplete else { return false }
            attempt.state.launched = true
            return true
        }
    }

    /// The running attempts that need the blob `digest`, by id.
    /// The blobs live attempts use.
    func blobDigestsInUse() -> Set<Data> { lock.withLock { Set(attempts.values.compactMap(\.blobDigest)) } }

    func waiting(for digest: Data) -> [ExecutorAttempt] {
        lock.withLock { attempts.values.filter { $0.blobDigest == digest }.sorted { $0.id < $1.id } }
    }

    /// A finished extract attempt: its rows are kept for the partition's train and evaluate tasks.
    func keepSpill(of attempt: ExecutorAttempt, _ rows: KeptRows) {
        lock.withLock {
            spills[attempt.id] = rows
            attempts[attempt.id] = nil
        }
    }

    /// Fold rows streamed to a finished fold task, kept as a copy of the spill of extract
    /// attempt `id` unless this worker holds that spill already.
    func keepCopy(_ folded: FoldedPartition, of id: UInt64) {
        lock.withLock {
            if spills[id] == nil { spills[id] = .folds(folded) }
        }
    }

    /// The rows kept by extract attempt `id` (or a copy of them).
    func spill(_ id: UInt64) -> KeptRows? { lock.withLock { spills[id] } }
}

/// The rows a finished extract attempt keeps for its partition's later tasks.
enum KeptRows: Sendable {
    /// A training job's partition: its training and test rows.
    case rows(PartitionRowStore)
    /// A cross-validation job's partition: its rows dealt into folds.
    case folds(FoldedPartition)
}

extension ExecutorAttempt {
    /// Closes the rows an extract attempt parsed (it failed or was cancelled before keeping them).
    func closeParsedRows() {
        rows?.close()
        folded?.close()
    }

    /// The fold a cross-validation train or evaluate attempt holds out.
    var heldOutFold: Int? { assignment.variant.fold }
    /// The grid point (0-based) of a cross-validation task; nil for other tasks.
    var gridPoint: Int? { assignment.variant.point }
}
