import Forest
import Foundation
import Locking
import Logging
import SpaceTime

/// The worker's task executor over the Forest engine. It receives the
/// `WorkerEngine`'s outputs on the DEALER thread (`handle`) and dispatches them;
/// it answers with events at once, or later through `WorkerClient.post`:
///
/// * the attempts and their state live in the `AttemptRegistry`;
/// * extractor and model blobs are fetched from the coordinator in chunks and
///   cached by digest in the `BlobCache`;
/// * one `TaskRunner` per task kind (`ExtractRunner`, `TrainRunner`,
///   `EvaluateRunner`, `PredictRunner`) builds the attempt, parses its row
///   batches on the attempt's own serial queue (acknowledged, for credit, once
///   parsed) and, once its rows and blob are there, runs it on its own thread.
///
/// Rows come from this worker's spill (`ROW_SOURCE_LOCAL_SPILL`) or are
/// streamed. Bad input fails the task with the file, line and column, not retryable.
public final class ForestTaskExecutor: @unchecked Sendable {  // `exitState` under `lock`; the rest is immutable or thread-safe
    public struct Options: Sendable {
        public var threads: Int
        /// Parent of the worker's spill directory.
        public var spillBase: String
        /// In-memory bytes per partition's rows before they spill.
        public var rowMemoryBytes: Int
        /// The worker's log: an attempt's lines carry its task and attempt (``LogKey``).
        public var logger: Logger
        /// Test hooks (the end-to-end tests slow tasks down to kill processes
        /// at chosen points): a pause after each row batch and each tree, seconds.
        public var batchDelay: Double = 0
        public var treeDelay: Double = 0
        /// Tests: seconds an evaluate attempt waits before it scores (so a test can act while a job evaluates).
        public var evaluateDelay: Double = 0
        /// Test hook (the self-limit test): bytes a train task allocates, touches and
        /// holds until it ends, standing in for a working set larger than the estimate.
        public var trainBallastBytes = 0
        /// The feature derivations this worker applies, by the identifier a job names.
        public var derivations = FeatureDerivationRegistry()

        public init(
            threads: Int = 1, spillBase: String = SpillDirectory.defaultBase, rowMemoryBytes: Int = 8 << 20,
            logger: Logger = .discarding
        ) {
            self.threads = max(1, threads)
            self.spillBase = spillBase
            self.rowMemoryBytes = rowMemoryBytes
            self.logger = logger
        }
    }

    public let options: Options
    private let lock = Lock()
    private var exitState: (message: String, failure: Bool)?
    private let spillDirectory: SpillDirectory
    private let registry = AttemptRegistry()
    private let blobs = BlobCache()
    /// Digest checks and decoding of extractors and models, off the DEALER thread (a large
    /// model takes seconds to decode there, and heartbeats would stop meanwhile).
    private let blobQueue = DispatchQueue(label: "spacetime.worker.blobs")
    private let outlet = EventOutlet()
    private let extract: ExtractRunner
    private let train: TrainRunner
    private let evaluate: EvaluateRunner
    private let predict: PredictRunner
    /// What the runners share (options, registry, spill directory, outlet).
    private let context: ExecutorContext

    /// Set by the engine's `exit` output (on the DEALER thread), read once the connection loop ends.
    public var exitMessage: (message: String, failure: Bool)? { lock.withLock { exitState } }

    public init(options: Options) throws {
        self.options = options
        do {
            spillDirectory = try SpillDirectory(base: options.spillBase)
        } catch {
            throw PipelineError(.io, "cannot create a spill directory under \(options.spillBase): \(error)")
        }
        context = ExecutorContext(options: options, registry: registry, spillDirectory: spillDirectory, outlet: outlet)
        extract = ExtractRunner(context: context)
        train = TrainRunner(context: context)
        evaluate = EvaluateRunner(context: context)
        predict = PredictRunner(context: context)
    }

    public func attach(_ client: WorkerClient) { outlet.attach(client) }

    /// Where this worker's spill files live.
    public var spillPath: String { spillDirectory.path }

    private func runner(_ kind: TaskKind) -> any TaskRunner {
        switch kind {
        case .extract: extract
        case .train: train
        case .evaluate: evaluate
        case .predict: predict
        }
    }

    // MARK: Memory

    /// Samples this process's memory (call periodically): updates running
    /// attempts' peaks and returns the event for the engine's heartbeats.
    public func sampleMemory() -> WorkerEvent {
        let s = MemorySample.current()
        registry.sample(rss: UInt64(s.rss))
        return .memory(rss: UInt64(s.rss), peak: UInt64(s.peakRSS))
    }

    /// Fails every running attempt with `message` (the worker went over its
    /// memory limit and is about to leave): the events to post.
    public func abandonAll(_ message: String) -> [WorkerEvent] {
        registry.abandonAll().map { a, peak in
            .failed(attemptID: a.id, failure: TaskFailure(.memoryBudget, message, retryable: true), peakRSS: peak)
        }
    }

    // MARK: Engine outputs

    /// Handles one engine output on the DEALER thread.
    public func handle(_ output: WorkerOutput) -> [WorkerEvent] {
        switch output {
        case .run(let a): return start(a)
        case .rows(let batch, let payload): return rows(batch, payload)
        case .rowsEnd(let end): return rowsEnd(end)
        case .cancel(let id, let reason):
            if case (let a, let lastWaiter)? = registry.cancel(id) {
                // A fetch nobody waits for any more is dropped: after a reconnect the
                // coordinator never answers it, and the next assignment must start over.
                if let digest = a.blobDigest, lastWaiter { blobs.dropFetch(digest) }
                if a.assignment.kind == .extract { a.closeParsedRows() }
                context.logger(for: a.assignment).info("attempt \(id) cancelled: \(reason)")
            }
            return []
        case .blobChunk(let chunk, let payload): return blobChunk(chunk, payload)
        case .exit(let message, let failure):
            lock.withLock { exitState = (message, failure) }
            registry.cancelAll()
            return []
        case .log(let level, let message, let metadata):
            options.logger.log(level: level, message, metadata: metadata)
            return []
        default:
            return []
        }
    }

    /// Fails, as retryable, every attempt waiting on a model or extractor fetch that
    /// has had no chunk for `timeout`, and forgets the fetch: a task never waits
    /// forever for a blob (e.g. a coordinator that lost it across a restart).
    public func expireStalledFetches(after timeout: Duration, now: ContinuousClock.Instant = .now) -> [WorkerEvent] {
        var events: [WorkerEvent] = []
        for digest in blobs.expireStalled(after: timeout, now: now) {
            for a in registry.waiting(for: digest) {
                let what = Self.blobIsModel(a.assignment, a.prediction?.parameters) ? "model" : "extractor"
                events.append(
                    context.fail(
                        a.assignment, .protocol,
                        "no chunk of the \(what) from the coordinator for \(timeout.components.seconds) s",
                        retryable: true))
            }
        }
        return events
    }

    private func start(_ a: TaskAssignment) -> [WorkerEvent] {
        let configuration: AttemptConfiguration
        do {
            configuration = try AttemptConfiguration(a)
        } catch {
            return [context.fail(a, .protocol, "\(error)", retryable: false)]
        }
        let runner = runner(a.kind)
        let attempt: ExecutorAttempt
        do {
            attempt = try runner.makeAttempt(a, configuration)
        } catch {
            return [context.fail(a, error)]
        }
        registry.publish(attempt)
        var events: [WorkerEvent] = []
        if a.kind.scoresWithModel { blobs.dropModels(except: registry.blobDigestsInUse()) }
        if a.kind != .extract {
            let asModel = Self.blobIsModel(a, configuration.prediction)
            let what = asModel ? "model" : "extractor"
            switch a.blob {
            case .inline(let data)?:
                blobQueue.async { [self] in
                    let events: [WorkerEvent]
                    do {
                        try blobs.load(data, digest: Digest.of(data), asModel: asModel)
                        events = launchIfReady(attempt)
                    } catch {
                        events =
                            registry.attempt(a.attemptID) == nil
                            ? [] : [context.fail(a, .protocol, "cannot decode the \(what): \(error)", retryable: false)]
                    }
                    for e in events { outlet.post(e) }
                }
            case .reference(let digest, let size)?:
                if blobs.beginFetch(digest, size: size) {
                    events.append(.requestBlob(digest: digest, offset: 0, maxBytes: BlobCache.chunkBytes))
                }
            case nil:
                return [context.fail(a, .protocol, "the assignment carries no \(what)", retryable: false)]
            }
        }
        events += launchIfReady(attempt)
        return events
    }

    private func blobChunk(_ chunk: WireBlobChunk, _ payload: Data) -> [WorkerEvent] {
        switch blobs.add(chunk, payload) {
        case .ignored: return []
        case .next(let offset): return [.requestBlob(digest: chunk.digest, offset: offset, maxBytes: BlobCache.chunkBytes)]
        case .complete(let data):
            blobQueue.async { [self] in
                for e in blobReceived(data, digest: chunk.digest) { outlet.post(e) }
            }
            return []
        }
    }

    /// On the blob queue: checks a fetched blob's digest, decodes it and launches the
    /// attempts waiting for it (or fails them). The waiting attempts are read again after the
    /// decode: one that arrived meanwhile found the blob neither loaded nor to be fetched.
    private func blobReceived(_ data: Data, digest: Data) -> [WorkerEvent] {
        guard BlobCache.matches(data, digest: digest) else {
            blobs.endDecoding(digest)
            return registry.waiting(for: digest).map {
                context.fail($0.assignment, .protocol, "the blob received does not match its digest", retryable: true)
            }
        }
        let asModel = registry.waiting(for: digest).first.map { Self.blobIsModel($0.assignment, $0.prediction?.parameters) } ?? false
        do {
            try blobs.load(data, digest: digest, asModel: asModel)
        } catch {
            blobs.endDecoding(digest)
            return registry.waiting(for: digest).map {
                context.fail($0.assignment, .protocol, "cannot decode the blob from the coordinator: \(error)", retryable: false)
            }
        }
        return registry.waiting(for: digest).flatMap(launchIfReady)
    }

    /// Whether the attempt's blob is a model (evaluate, predict) or an extractor (train, and
    /// predict tasks that send transform rows).
    static func blobIsModel(_ a: TaskAssignment, _ prediction: PredictionParameters?) -> Bool {
        a.kind != .train && prediction?.output != .transformRows
    }

    // MARK: Rows

    private func rows(_ batch: WireRowBatch, _ payload: Data) -> [WorkerEvent] {
        guard let attempt = registry.acceptingRows(batch.attemptID) else {
            return [.consumedRows(attemptID: batch.attemptID, bytes: payload.count)]
        }
        let runner = runner(attempt.assignment.kind)
        // Parsed on the attempt's queue; the batch is acknowledged (credit) once parsed. A batch
        // queued behind `rows_end` is not parsed: the attempt's rows may be in use by its run thread.
        attempt.parseQueue.async { [options, outlet, registry] in
            var events: [WorkerEvent] = [.consumedRows(attemptID: batch.attemptID, bytes: payload.count)]
            if !registry.rowsAreComplete(attempt), let failure = runner.parse(attempt, batch, payload) { events.append(failure) }
            if options.batchDelay > 0 { Thread.sleep(forTimeInterval: options.batchDelay) }
            for e in events { outlet.post(e) }
        }
        return []
    }

    private func rowsEnd(_ end: WireRowsEnd) -> [WorkerEvent] {
        guard let attempt = registry.attempt(end.attemptID), attempt.rows != nil || attempt.folded != nil || attempt.prediction != nil
        else { return [] }
        let runner = runner(attempt.assignment.kind)
        attempt.parseQueue.async { [self] in
            for e in finishRows(attempt, end, runner) { outlet.post(e) }
        }
        return []
    }

    /// After the last batch is parsed (on the attempt's queue): checks the count; an
    /// extract attempt reports its checkpoint and is done, others may launch.
    private func finishRows(_ attempt: ExecutorAttempt, _ end: WireRowsEnd, _ runner: any TaskRunner) -> [WorkerEvent] {
        let a = attempt.assignment
        guard registry.attempt(a.attemptID) != nil else { return [] }  // failed or cancelled meanwhile
        let expected = runner.expectedRows(end, attempt)
        let received = registry.received(attempt)
        guard received == expected else {
            return [context.fail(a, .protocol, "received \(received) rows, the coordinator sent \(expected)", retryable: true)]
        }
        registry.markRowsComplete(attempt)
        return runner.rowsComplete(attempt) ?? launchIfReady(attempt)
    }

    // MARK: Launch

    /// Runs the attempt on its own thread once its rows are complete and its blob is
    /// loaded (called after either happens; the registry lets only one caller launch).
    private func launchIfReady(_ attempt: ExecutorAttempt) -> [WorkerEvent] {
        guard let digest = attempt.blobDigest, let blob = blobs.loaded(digest), registry.beginLaunch(attempt) else { return [] }
        let runner = runner(attempt.assignment.kind)
        let thread = Thread { [outlet] in
            outlet.post(runner.run(attempt, blob))
        }
        thread.stackSize = 8 << 20
        thread.start()
        return []
    }
}
