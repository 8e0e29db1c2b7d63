import Foundation
import Forest
import SpaceTime

/// The worker's task executor over the Forest engine. It receives the
/// `WorkerEngine`'s outputs on the DEALER thread (`handle`) and answers with
/// events, at once or later through `WorkerClient.post`:
///
/// * **extract**: parses each streamed raw record (`CSVRecord.parse(raw:line:)`)
///   with the Forest data set path's `PartitionLoader` — the same step
///   `spacetime train` runs — which counts training rows into a
///   `PartialExtractorState` and keeps the parsed rows in the spill directory
///   (`PartitionRowStore`) for the partition's train and evaluate tasks; the
///   serialized state is the checkpoint. Row batches are parsed on the
///   attempt's own serial queue, not on the DEALER thread, and acknowledged
///   (credit) when parsed.
/// * **train**: bins the partition's training rows with the merged extractor
///   and grows trees `first..<end` with `ForestTrainer.trainTrees`, sending
///   each tree as a checkpoint as it finishes.
/// * **evaluate**: scores the partition's test rows with the merged model and
///   returns a serialized `MetricsAggregate`.
///
/// Rows come from this worker's spill (`ROW_SOURCE_LOCAL_SPILL`) or are
/// streamed again. Extractor and model blobs are fetched from the
/// coordinator in chunks and cached by digest. Bad input fails the task with
/// the file, line and column, not retryable.
public final class ForestTaskExecutor: @unchecked Sendable {
    public struct Options: Sendable {
        public var threads: Int
        /// Parent of the worker's spill directory.
        public var spillBase: String
        /// In-memory bytes per partition's rows before they spill.
        public var rowMemoryBytes: Int
        public var log: @Sendable (CoordinatorLogLevel, String) -> Void
        /// Test hooks (the end-to-end tests slow tasks down to kill processes
        /// at chosen points): a pause after each row batch and each tree, seconds.
        public var batchDelay: Double = 0
        public var treeDelay: Double = 0
        /// Test hook (the self-limit test): bytes a train task allocates, touches and
        /// holds until it ends, standing in for a working set larger than the estimate.
        public var trainBallastBytes = 0

        public init(threads: Int = 1, spillBase: String = SpillDirectory.defaultBase, rowMemoryBytes: Int = 8 << 20,
                    log: @escaping @Sendable (CoordinatorLogLevel, String) -> Void = { _, _ in }) {
            self.threads = max(1, threads)
            self.spillBase = spillBase
            self.rowMemoryBytes = rowMemoryBytes
            self.log = log
        }
    }

    final class Attempt: @unchecked Sendable {
        let assignment: WireTaskAssignment
        let layout: CSVLayout
        let parameters: ForestJobParameters
        let record: CSVRecord
        let started = ContinuousClock.now
        /// Row batches are parsed here, in arrival order, off the DEALER thread.
        let parseQueue = DispatchQueue(label: "spacetime.parse")
        /// Extract and streamed train/evaluate attempts: the partition's parse step.
        var loader: PartitionLoader?
        var rows: PartitionRowStore?
        /// Rows parsed so far (on `parseQueue`).
        var received: UInt64 = 0
        var rowsComplete = false
        /// The extractor or model the attempt needs, fixed before the attempt is published.
        let blobDigest: Data?
        var launched = false
        var cancelled = false
        var peak: UInt64 = 0
        /// Predict: the columns to parse, and the block's parsed rows and their lines.
        var prediction: PredictionParameters?
        var values: [Double] = []
        var lines: [UInt64] = []
        var features: [Double] = []
        var id: UInt64 { assignment.attemptID }

        init(_ a: WireTaskAssignment, layout: CSVLayout, parameters: ForestJobParameters) {
            assignment = a
            self.layout = layout
            self.parameters = parameters
            let blob = a.kind == .train ? a.extractor : a.model
            switch blob.value {
            case .inline(let data)?: blobDigest = a.kind == .extract ? nil : Digest.of(data)
            case .ref(let ref)?: blobDigest = a.kind == .extract ? nil : ref.digest
            case nil: blobDigest = nil
            }
            record = CSVRecord(header: layout.header, file: parameters.source.isEmpty ? "input" : parameters.source,
                               options: layout.csvOptions)
        }
    }

    struct BlobFetch {
        var data = Data()
        var total: UInt64 = 0
        /// When the last chunk arrived (or the fetch began).
        var lastProgress = ContinuousClock.now
    }

    enum Loaded {
        case extractor(FeatureExtractor)
        case model(ForestModel)
    }

    public let options: Options
    private let lock = NSLock()
    private var client: WorkerClient?
    private var attempts: [UInt64: Attempt] = [:]
    /// Parsed partitions by extract attempt id.
    private var spills: [UInt64: PartitionRowStore] = [:]
    private var fetches: [Data: BlobFetch] = [:]
    private var loaded: [Data: Loaded] = [:]
    private let spillDirectory: SpillDirectory
    private var lastSample = MemorySample(rssAnon: 0, rss: 0, peakRSS: 0)
    public private(set) var exitMessage: (message: String, failure: Bool)?
    private static let chunkBytes: UInt32 = 4 << 20

    public init(options: Options) throws {
        self.options = options
        do {
            spillDirectory = try SpillDirectory(base: options.spillBase)
        } catch {
            throw PipelineError(.io, "cannot create a spill directory under \(options.spillBase): \(error)")
        }
    }

    public func attach(_ client: WorkerClient) { lock.withLock { self.client = client } }

    /// Where this worker's spill files live.
    public var spillPath: String { spillDirectory.path }

    private func post(_ event: WorkerEvent) {
        lock.withLock { client }?.post(event)
    }

    // MARK: Memory

    /// Samples this process's memory (call periodically): updates running
    /// attempts' peaks and returns the event for the engine's heartbeats.
    public func sampleMemory() -> WorkerEvent {
        let s = MemorySample.current()
        lock.withLock {
            lastSample = s
            for a in attempts.values { a.peak = max(a.peak, UInt64(s.rss)) }
        }
        return .memory(rss: UInt64(s.rss), peak: UInt64(s.peakRSS))
    }

    /// Fails every running attempt with `message` (the worker went over its
    /// memory limit and is about to leave): the events to post.
    public func abandonAll(_ message: String) -> [WorkerEvent] {
        let running = lock.withLock { () -> [Attempt] in
            let all = Array(attempts.values)
            for a in all { a.cancelled = true }
            attempts.removeAll()
            return all
        }
        return running.sorted { $0.id < $1.id }.map { a in
            .failed(attemptID: a.id, reason: .memoryBudget, message: message, line: 0, column: 0, retryable: true,
                    peakRSS: max(a.peak, UInt64(lastSample.rss)))
        }
    }

    private func taskPeak(_ a: Attempt) -> UInt64 {
        let now = UInt64(MemorySample.current().rss)
        return lock.withLock { max(a.peak, now) }
    }

    // MARK: Engine outputs

    /// Handles one engine output on the DEALER thread.
    public func handle(_ output: WorkerOutput) -> [WorkerEvent] {
        switch output {
        case .run(let a): return start(a)
        case .rows(let batch, let payload): return rows(batch, payload)
        case .rowsEnd(let end): return rowsEnd(end)
        case .cancel(let id, let reason):
            if let a = lock.withLock({ attempts.removeValue(forKey: id) }) {
                lock.withLock {
                    a.cancelled = true
                    // A fetch nobody waits for any more is dropped: after a reconnect the
                    // coordinator never answers it, and the next assignment must start over.
                    if let digest = a.blobDigest, !attempts.values.contains(where: { $0.blobDigest == digest }) {
                        fetches[digest] = nil
                    }
                }
                if a.assignment.kind == .extract { a.rows?.close() }
                options.log(.info, "attempt \(id) cancelled: \(reason)")
            }
            return []
        case .blobChunk(let chunk, let payload): return blobChunk(chunk, payload)
        case .exit(let message, let failure):
            lock.withLock {
                exitMessage = (message, failure)
                for a in attempts.values { a.cancelled = true }
            }
            return []
        case .log(let level, let line):
            options.log(level, line)
            return []
        default:
            return []
        }
    }

    /// Fails, as retryable, every attempt waiting on a model or extractor fetch that
    /// has had no chunk for `timeout`, and forgets the fetch: a task never waits
    /// forever for a blob (e.g. a coordinator that lost it across a restart).
    public func expireStalledFetches(after timeout: Duration, now: ContinuousClock.Instant = .now) -> [WorkerEvent] {
        let stalled: [(digest: Data, waiting: [Attempt])] = lock.withLock {
            let digests = fetches.filter { now - $0.value.lastProgress >= timeout }.map(\.key)
            return digests.map { digest in
                fetches[digest] = nil
                return (digest, attempts.values.filter { $0.blobDigest == digest }.sorted { $0.id < $1.id })
            }
        }
        var events: [WorkerEvent] = []
        for (_, waiting) in stalled {
            for a in waiting {
                let what = a.assignment.kind == .train ? "extractor" : "model"
                events.append(fail(a.assignment, .protocol,
                                   "no chunk of the \(what) from the coordinator for \(timeout.components.seconds) s",
                                   retryable: true))
            }
        }
        return events
    }

    private func fail(_ a: WireTaskAssignment, _ reason: WireFailureReason, _ message: String, line: UInt64 = 0,
                      column: UInt32 = 0, retryable: Bool) -> WorkerEvent {
        let attempt = lock.withLock { attempts.removeValue(forKey: a.attemptID) }
        let peak = attempt.map(taskPeak) ?? UInt64(MemorySample.current().rss)
        if a.kind == .extract { attempt?.rows?.close() }
        options.log(.warning, "attempt \(a.attemptID) failed: \(message)")
        return .failed(attemptID: a.attemptID, reason: reason, message: String(message.prefix(4000)), line: line, column: column,
                       retryable: retryable, peakRSS: peak)
    }

    private func start(_ a: WireTaskAssignment) -> [WorkerEvent] {
        let layout: CSVLayout
        let parameters: ForestJobParameters
        var prediction: PredictionParameters?
        do {
            if a.kind == .predict {
                let names = try CSVLayout.headerNames(a.schema)
                let p = try PredictionParameters(deserializing: a.parameters, columns: names.count)
                prediction = p
                layout = CSVLayout(header: names, labelIndex: Int(a.schema.labelColumn))
                parameters = ForestJobParameters(forest: ForestParameters(), schema: p.schema, source: p.source)
            } else {
                layout = try CSVLayout(schema: a.schema)
                parameters = try ForestJobParameters(deserializing: a.parameters)
            }
        } catch {
            return [fail(a, .protocol, "\(error)", retryable: false)]
        }
        let attempt = Attempt(a, layout: layout, parameters: parameters)
        attempt.prediction = prediction
        lock.withLock { attempt.peak = UInt64(lastSample.rss) }
        switch a.kind {
        case .extract:
            let loader = PartitionLoader(parser: RecordParser(schema: parameters.schema, sampledRows: parameters.sampledRows),
                                         directory: spillDirectory, memoryBytes: options.rowMemoryBytes)
            attempt.loader = loader
            attempt.rows = loader.rows
        case .train, .evaluate:
            if a.source == .localSpill {
                guard let rows = lock.withLock({ spills[a.spillAttemptID] }) else {
                    return [fail(a, .spillMissing, "the spill of partition \(a.partition) (extract attempt \(a.spillAttemptID)) is not on this worker",
                                 retryable: true)]
                }
                attempt.rows = rows
                attempt.rowsComplete = true
            } else {
                let loader = PartitionLoader(parser: RecordParser(schema: parameters.schema, sampledRows: parameters.sampledRows),
                                             directory: spillDirectory, memoryBytes: options.rowMemoryBytes)
                attempt.loader = loader
                attempt.rows = loader.rows
            }
        case .predict:
            guard a.source == .streamed else {
                return [fail(a, .protocol, "predict tasks take streamed rows", retryable: false)]
            }
            // expected_rows comes from the peer: reserve at most 32 MiB up front, grow past that as rows arrive.
            let rows = Int(clamping: min(a.expectedRows, 1 << 22))
            attempt.values.reserveCapacity(min(rows * (prediction?.schema.featureCount ?? 0), 1 << 22))
            attempt.lines.reserveCapacity(rows)
        default:
            return [fail(a, .internal, "this worker does not run \(a.kind) tasks", retryable: false)]
        }
        lock.withLock { attempts[a.attemptID] = attempt }
        var events: [WorkerEvent] = []
        if a.kind != .extract {
            let blob = a.kind == .train ? a.extractor : a.model
            switch blob.value {
            case .inline(let data)?:
                let digest = Digest.of(data)
                do {
                    try load(data, digest: digest, asModel: a.kind != .train)
                } catch {
                    return [fail(a, .protocol, "cannot decode the \(a.kind == .train ? "extractor" : "model"): \(error)", retryable: false)]
                }
            case .ref(let ref)?:
                let needFetch = lock.withLock { () -> Bool in
                    if loaded[ref.digest] != nil || fetches[ref.digest] != nil { return false }
                    fetches[ref.digest] = BlobFetch(total: ref.size)
                    return true
                }
                if needFetch {
                    events.append(.requestBlob(digest: ref.digest, offset: 0, maxBytes: Self.chunkBytes))
                }
            case nil:
                return [fail(a, .protocol, "the assignment carries no \(a.kind == .train ? "extractor" : "model")", retryable: false)]
            }
        }
        events += launchIfReady(attempt)
        return events
    }

    private func load(_ data: Data, digest: Data, asModel: Bool) throws {
        if lock.withLock({ loaded[digest] != nil }) { return }
        let value: Loaded = asModel
            ? .model(try ForestModel(deserializing: [UInt8](data), context: "model from the coordinator"))
            : .extractor(try FeatureExtractor(deserializing: [UInt8](data)))
        lock.withLock { loaded[digest] = value }
    }

    private func blobChunk(_ chunk: WireBlobChunk, _ payload: Data) -> [WorkerEvent] {
        // Taken out of the dictionary while it grows: a copy left there would make the
        // append copy everything received so far (copy-on-write).
        guard var fetch = lock.withLock({ () -> BlobFetch? in
            guard let f = fetches[chunk.digest], chunk.offset == UInt64(f.data.count) else { return nil }
            fetches[chunk.digest] = BlobFetch(total: f.total)
            return f
        }) else { return [] }
        if fetch.data.isEmpty, chunk.totalSize <= UInt64(Int.max) { fetch.data.reserveCapacity(Int(chunk.totalSize)) }
        fetch.data.append(payload)
        fetch.total = chunk.totalSize
        fetch.lastProgress = .now
        if UInt64(fetch.data.count) < fetch.total, !payload.isEmpty {
            let next = UInt64(fetch.data.count)
            let kept = lock.withLock { () -> Bool in
                guard fetches[chunk.digest] != nil else { return false }  // dropped meanwhile (cancel)
                fetches[chunk.digest] = fetch
                return true
            }
            return kept ? [.requestBlob(digest: chunk.digest, offset: next, maxBytes: Self.chunkBytes)] : []
        }
        lock.withLock { fetches[chunk.digest] = nil }
        let waiting = lock.withLock { attempts.values.filter { $0.blobDigest == chunk.digest } }
        let asModel = waiting.first.map { $0.assignment.kind != .train } ?? false
        var events: [WorkerEvent] = []
        if Digest.of(fetch.data) != chunk.digest {
            for a in waiting { events.append(fail(a.assignment, .protocol, "the blob received does not match its digest", retryable: true)) }
            return events
        }
        do {
            try load(fetch.data, digest: chunk.digest, asModel: asModel)
        } catch {
            for a in waiting { events.append(fail(a.assignment, .protocol, "cannot decode the blob from the coordinator: \(error)", retryable: false)) }
            return events
        }
        for a in waiting { events += launchIfReady(a) }
        return events
    }

    // MARK: Rows

    private func rows(_ batch: WireRowBatch, _ payload: Data) -> [WorkerEvent] {
        guard let attempt = lock.withLock({ attempts[batch.attemptID].flatMap { $0.rowsComplete ? nil : $0 } }) else {
            return [.consumedRows(attemptID: batch.attemptID, bytes: payload.count)]
        }
        // Parsed on the attempt's queue; the batch is acknowledged (credit) once parsed.
        attempt.parseQueue.async { [self] in
            var events: [WorkerEvent] = [.consumedRows(attemptID: batch.attemptID, bytes: payload.count)]
            if let failure = attempt.prediction != nil ? predictionRows(attempt, batch, payload) : partitionRows(attempt, batch, payload) {
                events.append(failure)
            }
            if options.batchDelay > 0 { Thread.sleep(forTimeInterval: options.batchDelay) }
            for e in events { post(e) }
        }
        return []
    }

    /// Splits a row batch into its records: `body(record bytes, line, isTest)` for each;
    /// a length beyond the payload fails the attempt.
    private func forEachRecord(_ attempt: Attempt, _ batch: WireRowBatch, _ payload: Data,
                               _ body: (UnsafeRawBufferPointer, UInt64, Bool) throws -> Void) -> WorkerEvent? {
        let a = attempt.assignment
        var line = batch.firstLine
        var offset = 0
        return payload.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> WorkerEvent? in
            for i in 0..<batch.recordLengths.count {
                if i > 0 { line += UInt64(batch.lineDeltas[i - 1]) }
                let length = Int(batch.recordLengths[i])
                let isTest = i / 8 < batch.testMask.count && batch.testMask[batch.testMask.startIndex + i / 8] & (1 << UInt8(i % 8)) != 0
                defer { offset += length }
                guard offset + length <= raw.count else {
                    return fail(a, .protocol, "row batch \(batch.batchSeq): record lengths exceed the payload", retryable: true)
                }
                do {
                    try body(UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + length)]), line, isTest)
                } catch let e as CSVError {
                    return fail(a, .badInput, e.description, line: UInt64(e.line ?? Int(line)),
                                column: UInt32(clamping: (e.column ?? -1) + 1), retryable: false)
                } catch let e as SpillError {
                    return fail(a, .io, "spill directory \(spillDirectory.path): \(e)", retryable: true)
                } catch {
                    return fail(a, .badInput, "\(error)", line: line, retryable: false)
                }
            }
            return nil
        }
    }

    /// Parses an extract (or streamed train / evaluate) attempt's records into its partition.
    private func partitionRows(_ attempt: Attempt, _ batch: WireRowBatch, _ payload: Data) -> WorkerEvent? {
        guard let loader = attempt.loader, !isCancelled(attempt) else { return nil }
        let kind = attempt.assignment.kind
        return forEachRecord(attempt, batch, payload) { bytes, line, isTest in
            if (kind == .train && isTest) || (kind == .evaluate && !isTest) { return }
            try attempt.record.parse(raw: bytes, line: Int(line))
            try loader.add(attempt.record, isTest: isTest, line: line)
            attempt.received += 1
        }
    }

    private func rowsEnd(_ end: WireRowsEnd) -> [WorkerEvent] {
        guard let attempt = lock.withLock({ attempts[end.attemptID] }), attempt.rows != nil || attempt.prediction != nil else { return [] }
        attempt.parseQueue.async { [self] in
            for e in finishRows(attempt, end) { post(e) }
        }
        return []
    }

    /// After the last batch is parsed (on the attempt's queue): checks the count; an
    /// extract attempt reports its checkpoint and is done, others may launch.
    private func finishRows(_ attempt: Attempt, _ end: WireRowsEnd) -> [WorkerEvent] {
        let a = attempt.assignment
        guard lock.withLock({ attempts[a.attemptID] }) != nil else { return [] }  // failed or cancelled meanwhile
        let expected: UInt64 = switch a.kind {
        case .train: end.trainRows
        case .evaluate: end.testRows
        default: end.rows
        }
        guard attempt.received == expected else {
            return [fail(a, .protocol, "received \(attempt.received) rows, the coordinator sent \(expected)", retryable: true)]
        }
        lock.withLock { attempt.rowsComplete = true }
        guard a.kind == .extract, let loader = attempt.loader, let rows = attempt.rows else { return launchIfReady(attempt) }
        var s = WireCheckpoint.ExtractStats()
        s.rows = UInt64(rows.trainCount + rows.testCount)
        s.trainRows = UInt64(rows.trainCount)
        s.testRows = UInt64(rows.testCount)
        s.classLabels = rows.labelTexts
        s.trainClassCounts = rows.trainCounts
        s.testClassCounts = rows.testCounts
        lock.withLock {
            spills[a.attemptID] = rows
            attempts[a.attemptID] = nil
        }
        options.log(.info, "extract/p\(a.partition) attempt \(a.attemptID): \(s.trainRows) train + \(s.testRows) test rows parsed and kept in \(spillDirectory.path)")
        return [.checkpointStats(attemptID: a.attemptID, stats: s, blob: Data(loader.extractorState.serialize())),
                .done(attemptID: a.attemptID, rows: s.rows, peakRSS: taskPeak(attempt), result: nil,
                      elapsed: attempt.started.duration(to: .now).seconds)]
    }

    // MARK: Train and evaluate

    private func launchIfReady(_ attempt: Attempt) -> [WorkerEvent] {
        let ready = lock.withLock { () -> Loaded? in
            guard !attempt.launched, attempt.rowsComplete, let d = attempt.blobDigest, let value = loaded[d] else { return nil }
            attempt.launched = true
            return value
        }
        guard let ready else { return [] }
        let thread = Thread { [self] in
            let event: WorkerEvent
            switch ready {
            case .extractor(let extractor): event = train(attempt, extractor)
            case .model(let model): event = attempt.prediction != nil ? predict(attempt, model) : evaluate(attempt, model)
            }
            post(event)
        }
        thread.stackSize = 8 << 20
        thread.start()
        return []
    }

    private func isCancelled(_ a: Attempt) -> Bool { lock.withLock { a.cancelled } }

    private struct Cancelled: Error {}

    private func bin(_ attempt: Attempt, extractor: FeatureExtractor, test: Bool) throws -> BinnedPartition {
        guard let rows = attempt.rows else { throw PipelineError(.missingSpill, "no rows") }
        do {
            return try rows.bin(extractor: extractor, test: test, threads: options.threads, source: attempt.parameters.source)
        } catch let e as ForestError where e.code == .invalidData {
            throw PipelineError(.badInput, e.message)
        }
    }

    private func seconds(since start: ContinuousClock.Instant) -> Double { start.duration(to: .now).seconds }

    private func train(_ attempt: Attempt, _ extractor: FeatureExtractor) -> WorkerEvent {
        let a = attempt.assignment
        let range = Int(a.trees.first)..<Int(a.trees.end)
        do {
            let binned = try bin(attempt, extractor: extractor, test: false)
            let trainer = ForestTrainer(parameters: attempt.parameters.forest, threads: options.threads)
            let id = a.attemptID
            options.log(.info, "train/p\(a.partition) attempt \(id): \(binned.rowCount) rows binned, growing trees \(range.lowerBound)..<\(range.upperBound)")
            // Trees go out in batches of `checkpoint_every` (the last batch may be shorter).
            let batch = LockedBox(TreeCheckpointBatch(every: Int(a.checkpointEvery), first: range.lowerBound))
            let ballast = [UInt8](repeating: 1, count: options.trainBallastBytes)
            defer { withExtendedLifetime(ballast) {} }
            try trainer.trainTrees(partition: binned, partitionIndex: Int(a.partition), range: range) { [self] index, tree in
                if isCancelled(attempt) { throw Cancelled() }
                if options.treeDelay > 0 { Thread.sleep(forTimeInterval: options.treeDelay) }
                if let full = batch.withLock({ $0.add(Data(tree.serialize()), index: index) }) {
                    post(.checkpointTrees(attemptID: id, firstTree: full.first, trees: full.trees))
                }
                post(.progress(attemptID: id, done: UInt64(index + 1 - range.lowerBound), total: UInt64(range.count)))
            }
            if let rest = batch.withLock({ $0.flush() }) {
                post(.checkpointTrees(attemptID: id, firstTree: rest.first, trees: rest.trees))
            }
            lock.withLock { attempts[id] = nil }
            return .done(attemptID: id, rows: UInt64(binned.rowCount), peakRSS: taskPeak(attempt), result: nil,
                         elapsed: seconds(since: attempt.started))
        } catch is Cancelled {
            return fail(a, .cancelled, "cancelled", retryable: true)
        } catch let e as PipelineError where e.code == .badInput {
            return fail(a, .badInput, e.message, retryable: false)
        } catch {
            return fail(a, .internal, "train/p\(a.partition): \(error)", retryable: true)
        }
    }

    private func evaluate(_ attempt: Attempt, _ model: ForestModel) -> WorkerEvent {
        let a = attempt.assignment
        do {
            let binned = try bin(attempt, extractor: model.extractor, test: true)
            var aggregate = EvaluationMetrics(task: model.extractor.task)
            if binned.rowCount > 0 {
                aggregate.add(predictions: model.forest.predict(binned: binned, threads: options.threads), target: binned.target)
            }
            lock.withLock { attempts[a.attemptID] = nil }
            return .done(attemptID: a.attemptID, rows: UInt64(binned.rowCount), peakRSS: taskPeak(attempt),
                         result: Data(aggregate.serialize()), elapsed: seconds(since: attempt.started))
        } catch let e as PipelineError where e.code == .badInput {
            return fail(a, .badInput, e.message, retryable: false)
        } catch {
            return fail(a, .internal, "evaluate/p\(a.partition): \(error)", retryable: true)
        }
    }

    // MARK: Predict

    /// Parses a predict attempt's records (the model's feature columns, as `spacetime
    /// predict` does; the label column is not read) into the block's rows.
    private func predictionRows(_ attempt: Attempt, _ batch: WireRowBatch, _ payload: Data) -> WorkerEvent? {
        guard let p = attempt.prediction else { return nil }
        let parser = RecordParser(schema: p.schema)
        let d = p.schema.featureCount
        if attempt.features.count != d { attempt.features = Array(repeating: 0, count: d) }
        return forEachRecord(attempt, batch, payload) { bytes, line, _ in
            try attempt.record.parse(raw: bytes, line: Int(line))
            try attempt.features.withUnsafeMutableBufferPointer { try parser.parseFeatures(attempt.record, into: $0) }
            attempt.values.append(contentsOf: attempt.features)
            attempt.lines.append(line)
            attempt.received += 1
        }
    }

    /// Scores the block with the model and posts its probabilities in batches
    /// (sent under the coordinator's credit, before `done`).
    private func predict(_ attempt: Attempt, _ model: ForestModel) -> WorkerEvent {
        let a = attempt.assignment
        guard let p = attempt.prediction, model.extractor.featureCount == p.schema.featureCount else {
            return fail(a, .protocol, "predict/p\(a.partition): the model's features do not match the assignment's columns", retryable: false)
        }
        let rows = attempt.lines.count
        let C = model.forest.outputWidth
        let probabilities = BatchScorer.predict(model, values: attempt.values, rows: rows, threads: options.threads)
        attempt.values = []
        var start = 0
        while start < rows {
            if isCancelled(attempt) { return fail(a, .cancelled, "cancelled", retryable: true) }
            let n = min(BlockScoring.batchRows, rows - start)
            post(.predictions(attemptID: a.attemptID, firstLine: attempt.lines[start], rows: UInt32(n), bytesPerRow: UInt32(8 * C),
                              payload: BlockScoring.encode(probabilities, from: start * C, count: n * C)))
            start += n
            post(.progress(attemptID: a.attemptID, done: UInt64(start), total: UInt64(rows)))
        }
        lock.withLock { attempts[a.attemptID] = nil }
        return .done(attemptID: a.attemptID, rows: UInt64(rows), peakRSS: taskPeak(attempt), result: nil,
                     elapsed: seconds(since: attempt.started))
    }
}
