import Forest
import Foundation
import SpaceTime

/// The coordinator's driver for a prediction job, on the ROUTER thread:
///
/// * streams each leased block's raw records to its attempt (`CSVBlockReader`
///   from the block's mark, row batches under the worker's credit);
/// * as the engine's `PredictionSink`, writes each attempt's predictions as
///   text to its block's part file (`PARTS/block-K.txt`, atomically renamed
///   when the attempt is done with every row; a failed or lost attempt's
///   part is dropped and the block is redone elsewhere);
/// * when every block is done, concatenates the parts in block order after
///   the header into the output (atomically), so the output equals
///   single-process `spacetime predict`'s byte for byte.
///
/// With tree-sharded scoring (``Settings/sharding``) there is a task per (block, slice):
/// `predict/pK.tA-B` (partition = block K, variant = the slice's trees A..<B) streams block
/// K's rows to a worker holding that slice S only (its own blob, `model-slice-S`), whose
/// partial sums are kept as they come (`block-K-sS.bin`);
/// the assembly adds each block's slices in the model's fixed grouping
/// (``ForestScoringLayout/combine(slices:rows:)``) before formatting, so the output is
/// byte-identical to whole-model scoring.
///
/// With ``Output/shards`` (`spacetime transform --workers`) each task's worker sends its
/// block's parsed rows instead (``TransformRows``, kept as sent in `block-K-s000.bin`), and
/// the assembly feeds them in block order through a `TransformShardWriter` into NumPy shards
/// and `manifest.json`: the bytes a single-process transform writes.
public final class PredictionDriver: CoordinatorDriver, PredictionSink {
    /// What the job writes.
    public enum Output: Sendable {
        /// Predictions as CSV text; `classes` (empty for regression) name the probability columns.
        case predictions(format: PredictionFormat, classes: [String])
        /// NumPy shards of the rows the workers parsed.
        case shards(TransformShards)
    }

    /// A transform's shard output: the fitted transform, its options, the output directory,
    /// the source named in the manifest and whether the input has the label column.
    public struct TransformShards: Sendable {
        public var transform: DatasetTransform
        public var options: DatasetTransform.Options
        public var directory: String
        public var source: String
        public var labels: Bool

        public init(transform: DatasetTransform, options: DatasetTransform.Options, directory: String, source: String, labels: Bool) {
            self.transform = transform
            self.options = options
            self.directory = directory
            self.source = source
            self.labels = labels
        }
    }

    public struct Settings: Sendable {
        public var index: CSVBlockIndex
        /// Record ranges of the blocks, in input order.
        public var blocks: [Range<Int>]
        public var csvOptions: CSVOptions
        public var output: Output
        /// Output path (the shard directory for ``Output/shards``), or "-" for standard output.
        public var outPath: String
        public var partsDirectory: String
        /// Tree-sharded scoring: the model's layout and its slices; nil: every task holds the whole model.
        public var sharding: Sharding?
        public var batchRows = 2048
        public var batchBytes = 1 << 20
        public var progressInterval: Double = 2
    }

    /// The slices of a tree-sharded prediction and the grouping their sums are added in.
    public struct Sharding: Sendable {
        public struct Slice: Sendable {
            public var trees: Range<Int>
            /// Layout nodes the slice's partial sums hold, per row in this order.
            public var pieces: [Int]
            /// The job store artifact holding the slice (``ForestModelSlice``).
            public var artifact: String
        }
        public var layout: ForestScoringLayout
        public var slices: [Slice]

        public init(layout: ForestScoringLayout, slices: [Slice]) {
            self.layout = layout
            self.slices = slices
        }

        public static func artifactName(slice s: Int) -> String { "model-slice-\(s)" }
    }

    private final class Stream {
        let reader: CSVBlockReader
        var pending: (firstLine: UInt64, deltas: [UInt32], lengths: [UInt32], payload: Data)?
        init(reader: CSVBlockReader) { self.reader = reader }
    }

    private struct Part {
        var block: Int
        var written = 0
        let file: AtomicFileWriter
    }

    let store: JobStore
    let settings: Settings
    /// The text format (``Output/predictions``).
    private let format: PredictionFormat?
    /// The shard output (``Output/shards``).
    private let shards: TransformShards?
    private let onFinished: @Sendable (JobOutcome) -> Void
    private var streams: [UInt64: Stream] = [:]
    private var parts: [UInt64: Part] = [:]
    private var sealedRows = 0
    private var finished = false
    private var attached = false
    private var started: Double?
    private var lastProgress = 0.0
    private var buffer: [UInt8] = []
    private var probabilities: [Double] = []
    /// Slices per block (1 without sharding).
    private var sliceCount: Int { settings.sharding?.slices.count ?? 1 }

    public init(store: JobStore, settings: Settings, onFinished: @escaping @Sendable (JobOutcome) -> Void) {
        self.store = store
        self.settings = settings
        switch settings.output {
        case .predictions(let f, _): (format, shards) = (f, nil)
        case .shards(let t): (format, shards) = (nil, t)
        }
        self.onFinished = onFinished
    }

    /// Where block `k`'s sealed part lives.
    public static func partPath(_ directory: String, block: Int) -> String {
        (directory as NSString).appendingPathComponent(String(format: "block-%06d.txt", block))
    }

    /// Where slice `s`'s partial sums of block `k` live (tree-sharded scoring).
    public static func partPath(_ directory: String, block: Int, slice: Int) -> String {
        (directory as NSString).appendingPathComponent(String(format: "block-%06d-s%03d.bin", block, slice))
    }

    /// The (block, slice) a task covers: its partition is the block; its variant is `whole`
    /// without sharding (slice 0) or one slice's tree range. Nil for a task of no such pair.
    func place(_ task: TaskName) -> (block: Int, slice: Int)? {
        guard task.kind == .predict, settings.blocks.indices.contains(task.partition) else { return nil }
        guard let sharding = settings.sharding else { return task.variant == .whole ? (task.partition, 0) : nil }
        guard let trees = task.variant.treeRange, let s = sharding.slices.firstIndex(where: { $0.trees == trees }) else { return nil }
        return (task.partition, s)
    }

    /// Where the part of a placed task is written: text (whole model) or kept values.
    private func partPath(block k: Int, slice s: Int) -> String {
        settings.sharding == nil && shards == nil
            ? Self.partPath(settings.partsDirectory, block: k)
            : Self.partPath(settings.partsDirectory, block: k, slice: s)
    }

    /// The task kind's name in the log.
    private var work: String { shards == nil ? "predict" : "transform" }

    public func drive(_ engine: CoordinatorEngine, at time: EngineTime) throws -> [CoordinatorOutput] {
        guard !finished else { return [] }
        var out: [CoordinatorOutput] = []
        do {
            if !attached {
                attached = true
                started = time.monotonic
                engine.predictionSink = self
                // A transform's tasks get the extractor as their blob, a prediction's the model.
                let blobArtifact = shards == nil ? "model" : "extractor"
                guard let model = try engine.addArtifactBlob(blobArtifact, digest: Digest.of(try store.artifact(blobArtifact) ?? Data())),
                    let extractor = try engine.addArtifactBlob("extractor", digest: Digest.of(try store.artifact("extractor") ?? Data()))
                else { throw PipelineError(.missingArtifact, "the model is missing from the job store") }
                engine.model = model
                engine.extractor = extractor
                if let sharding = settings.sharding {
                    var blobs: [Range<Int>: WireBlob] = [:]
                    for (s, slice) in sharding.slices.enumerated() {
                        let name = slice.artifact
                        guard let blob = try engine.addArtifactBlob(name, digest: Digest.of(try store.artifact(name) ?? Data())) else {
                            throw PipelineError(.missingArtifact, "slice \(s) of the model is missing from the job store")
                        }
                        blobs[slice.trees] = blob
                    }
                    // A task's variant names its slice's trees; a whole-variant task would get the whole model.
                    engine.modelForTask = { task in task.kind == .predict ? task.variant.treeRange.flatMap { blobs[$0] } : nil }
                }
            }
            try pumpRows(engine, at: time, into: &out)
            switch try store.stage() {
            case .save?:
                if let shards {
                    let manifest = try assembleShards(shards, at: time)
                    out.append(
                        .log(
                            .info,
                            "wrote \(manifest.rows) rows in \(manifest.shards.count) shard(s) (\(manifest.dtype)) to \(shards.directory)"))
                } else {
                    try assemble(at: time)
                    out.append(
                        .log(
                            .info,
                            "wrote \(settings.index.rows) predictions to \(settings.outPath == "-" ? "standard output" : settings.outPath)")
                    )
                }
                out += engine.shutdown(reason: "the job is done", at: time)
                finished = true
                onFinished(.done(modelPath: settings.outPath))
            case .failed?:
                finished = true
                onFinished(.failed(try store.failure() ?? "the job failed"))
            default:
                break
            }
            if !finished, time.monotonic - lastProgress >= settings.progressInterval {
                lastProgress = time.monotonic
                out.append(.log(.info, "\(try progressLine(at: time))"))
            }
        } catch {
            let message = (error as? PipelineError)?.message ?? "\(error)"
            try store.failJob(message, now: time.wall)
            out.append(.log(.error, "job failed: \(message)"))
            out += engine.shutdown(reason: "job failed: \(message)", at: time)
            for (_, p) in parts { p.file.abort() }
            parts.removeAll()
            finished = true
            onFinished(.failed(message))
        }
        return out
    }

    // MARK: Rows

    private func pumpRows(_ engine: CoordinatorEngine, at time: EngineTime, into out: inout [CoordinatorOutput]) throws {
        let open = engine.rowStreams
        let live = Set(open.map(\.attemptID))
        for id in streams.keys where !live.contains(id) { streams[id] = nil }
        var budget = 64  // batches per call: the loop stays responsive
        for (block, attemptID) in open where budget > 0 {
            guard settings.blocks.indices.contains(block) else { continue }
            if settings.blocks[block].isEmpty {  // a header-only input: one empty block
                out += engine.endRows(to: attemptID, at: time)
                continue
            }
            let stream: Stream
            if let s = streams[attemptID] {
                stream = s
            } else {
                let range = settings.blocks[block]
                guard let mark = settings.index.mark(ofRecord: range.lowerBound) else {
                    throw PipelineError(.missingArtifact, "block \(block) does not start on an indexed record")
                }
                stream = Stream(
                    reader: try CSVBlockReader(
                        path: settings.index.path, mark: mark, rows: range.count,
                        options: settings.csvOptions))
                streams[attemptID] = stream
            }
            while budget > 0 {
                if stream.pending == nil {
                    guard stream.reader.rowsLeft > 0 else {
                        out += engine.endRows(to: attemptID, at: time)
                        streams[attemptID] = nil
                        break
                    }
                    stream.pending = try cut(stream.reader)
                }
                guard let p = stream.pending, engine.canSendRows(to: attemptID, bytes: p.payload.count) else { break }
                let rows = p.lengths.count
                out += engine.sendRows(
                    to: attemptID, firstLine: p.firstLine, lineDeltas: p.deltas, recordLengths: p.lengths,
                    testMask: Data(count: (rows + 7) / 8), trainRows: rows, payload: p.payload, at: time)
                stream.pending = nil
                budget -= 1
            }
        }
    }

    private func cut(_ reader: CSVBlockReader) throws -> (firstLine: UInt64, deltas: [UInt32], lengths: [UInt32], payload: Data) {
        var payload = Data()
        var lengths: [UInt32] = []
        var deltas: [UInt32] = []
        var first = 0
        var last = 0
        while lengths.count < settings.batchRows, payload.count < settings.batchBytes / 2 || lengths.isEmpty {
            let more = try reader.next { line, raw in
                if lengths.isEmpty { first = line } else { deltas.append(UInt32(clamping: line - last)) }
                last = line
                lengths.append(UInt32(raw.count))
                payload.append(raw.bindMemory(to: UInt8.self))
            }
            if !more { break }
        }
        return (UInt64(first), deltas, lengths, payload)
    }

    // MARK: PredictionSink

    public func predictions(attemptID: UInt64, task: TaskName, batch: WirePredictionBatch, payload: Data) throws -> String? {
        guard let (block, slice) = place(task) else { return "predictions for \(task), which is no (block, slice) of this job" }
        let C =
            shards.map { TransformRows.width(features: $0.transform.extractor.featureCount) }
            ?? settings.sharding.map { $0.slices[slice].pieces.count * $0.layout.outputWidth } ?? format?.width ?? 0
        guard Int(batch.bytesPerRow) == 8 * C else {
            let what = shards != nil ? "transform sends" : settings.sharding == nil ? "model predicts" : "slice sums"
            return "\(batch.bytesPerRow) bytes per row; this \(what) \(C) value(s) per row (\(8 * C) bytes)"
        }
        var part: Part
        if let p = parts[attemptID] {
            part = p
        } else {
            do {
                part = Part(block: block, file: try AtomicFileWriter(path: partPath(block: block, slice: slice)))
            } catch {
                throw PipelineError(.io, "cannot write a part in \(settings.partsDirectory): \(error)")
            }
        }
        let rows = Int(batch.rows)
        guard part.written + rows <= settings.blocks[block].count else {
            part.file.abort()
            parts[attemptID] = nil
            return "\(task): more than its \(settings.blocks[block].count) rows of predictions"
        }
        // Partial sums or transform rows are kept as sent (little-endian Float64) until assembly;
        // a whole model's predictions are formatted as they come.
        guard settings.sharding == nil, let format else {
            do { try part.file.append([UInt8](payload)) } catch { throw PipelineError(.io, "writing the part of \(task): \(error)") }
            part.written += rows
            parts[attemptID] = part
            return nil
        }
        if probabilities.count < rows * C { probabilities = [Double](repeating: 0, count: rows * C) }
        payload.withUnsafeBytes { raw in
            for i in 0..<(rows * C) {
                probabilities[i] = Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)))
            }
        }
        buffer.removeAll(keepingCapacity: true)
        probabilities.withUnsafeBufferPointer { format.appendRows($0, rows: rows, to: &buffer) }
        do { try part.file.append(buffer) } catch { throw PipelineError(.io, "writing the part of \(task): \(error)") }
        part.written += rows
        parts[attemptID] = part
        return nil
    }

    public func finish(attemptID: UInt64, task: TaskName, rows: UInt64) throws -> String? {
        guard let (block, slice) = place(task) else { return "\(task) is no (block, slice) of this job" }
        let expected = settings.blocks[block].count
        guard let part = parts.removeValue(forKey: attemptID) else {
            guard expected == 0 && rows == 0 else { return "\(task) reported done without predictions" }
            guard FileManager.default.createFile(atPath: partPath(block: block, slice: slice), contents: Data()) else {
                throw PipelineError(.io, "cannot write a part in \(settings.partsDirectory)")
            }
            return nil
        }
        guard part.written == expected, Int(rows) == expected else {
            part.file.abort()
            return "\(task) reported done with \(part.written) of its \(expected) predictions"
        }
        do { try part.file.commit() } catch { throw PipelineError(.io, "sealing the part of \(task): \(error)") }
        sealedRows += expected
        return nil
    }

    public func discard(attemptID: UInt64) {
        parts.removeValue(forKey: attemptID)?.file.abort()
    }

    // MARK: Output

    /// Feeds the blocks' transform rows, in block order and in chunks, through a shard writer
    /// into the shard directory, then writes its manifest.
    private func assembleShards(_ t: TransformShards, at time: EngineTime) throws -> TransformManifest {
        let d = t.transform.extractor.featureCount
        let rowBytes = 8 * TransformRows.width(features: d)
        let regression = t.transform.extractor.task.kind == .regression
        var writer = TransformShardWriter(extractor: t.transform.extractor, directory: t.directory, options: t.options, labels: t.labels)
        var values: [Double] = []
        var lines: [Int] = []
        var labels: [Double] = []
        do {
            try DatasetTransform.prepare(directory: t.directory)
            for k in settings.blocks.indices {
                let path = Self.partPath(settings.partsDirectory, block: k, slice: 0)
                guard let handle = FileHandle(forReadingAtPath: path) else {
                    throw PipelineError(.missingArtifact, "the rows of block \(k) (\(path)) are missing")
                }
                defer { try? handle.close() }
                var read = 0
                while let chunk = try handle.read(upToCount: rowBytes * 8192), !chunk.isEmpty {
                    guard chunk.count % rowBytes == 0 else {
                        throw PipelineError(.missingArtifact, "\(path) ends inside a row (\(chunk.count) bytes read)")
                    }
                    let rows = chunk.count / rowBytes
                    values.removeAll(keepingCapacity: true)
                    lines.removeAll(keepingCapacity: true)
                    labels.removeAll(keepingCapacity: true)
                    TransformRows.decode(chunk, rows: rows, features: d, values: &values, lines: &lines, labels: &labels)
                    let classes = t.labels && !regression ? labels.map { Int64($0) } : []
                    try values.withUnsafeBufferPointer {
                        try writer.add(values: $0, lines: lines, classes: classes, targets: t.labels && regression ? labels : nil)
                    }
                    read += rows
                }
                guard read == settings.blocks[k].count else {
                    throw PipelineError(.missingArtifact, "\(path) holds \(read) rows, not the block's \(settings.blocks[k].count)")
                }
            }
            try writer.finish()
        } catch let e as ForestError {
            throw PipelineError(wrapping: e)
        }
        let manifest: TransformManifest
        do {
            manifest = try t.transform.writeManifest(
                source: t.source, directory: t.directory, options: t.options, labels: t.labels,
                shards: writer.shards)
        } catch let e as ForestError {
            throw PipelineError(.io, e.message)
        }
        for k in settings.blocks.indices {
            try? FileManager.default.removeItem(atPath: Self.partPath(settings.partsDirectory, block: k, slice: 0))
        }
        try store.stepEnded("save", rows: settings.index.rows, now: time.wall)
        try store.setStage(.done, now: time.wall)
        return manifest
    }

    /// Concatenates the header and the parts in block order into the output.
    private func assemble(at time: EngineTime) throws {
        guard case .predictions(let format, let classes) = settings.output else { return }
        let writer: AtomicFileWriter?
        do {
            writer = settings.outPath == "-" ? nil : try AtomicFileWriter(path: settings.outPath)
        } catch {
            throw PipelineError(.io, "\(settings.outPath): \(error)")
        }
        func emit(_ bytes: [UInt8]) throws {
            if let writer { try writer.append(bytes) } else { FileHandle.standardOutput.write(Data(bytes)) }
        }
        do {
            try emit(format.header(classes: classes))
            if let sharding = settings.sharding {
                for k in settings.blocks.indices { try emit(try combinedBlock(k, sharding, format)) }
            }
            for k in settings.blocks.indices where settings.sharding == nil {
                let path = Self.partPath(settings.partsDirectory, block: k)
                guard let handle = FileHandle(forReadingAtPath: path) else {
                    throw PipelineError(.missingArtifact, "the predictions of block \(k) (\(path)) are missing")
                }
                defer { try? handle.close() }
                while let chunk = try handle.read(upToCount: 4 << 20), !chunk.isEmpty { try emit([UInt8](chunk)) }
            }
            try writer?.commit()
        } catch {
            writer?.abort()
            throw (error as? PipelineError) ?? PipelineError(.io, "\(settings.outPath): \(error)")
        }
        for k in settings.blocks.indices {
            try? FileManager.default.removeItem(atPath: Self.partPath(settings.partsDirectory, block: k))
            for s in 0..<(settings.sharding?.slices.count ?? 0) {
                try? FileManager.default.removeItem(atPath: Self.partPath(settings.partsDirectory, block: k, slice: s))
            }
        }
        try store.stepEnded("save", rows: settings.index.rows, now: time.wall)
        try store.setStage(.done, now: time.wall)
    }

    /// Block `k`'s text: its slices' partial sums added in the model's grouping, formatted.
    private func combinedBlock(_ k: Int, _ sharding: Sharding, _ format: PredictionFormat) throws -> [UInt8] {
        let rows = settings.blocks[k].count
        var sums: [[Double]] = []
        for (s, slice) in sharding.slices.enumerated() {
            let path = Self.partPath(settings.partsDirectory, block: k, slice: s)
            guard let data = FileManager.default.contents(atPath: path) else {
                throw PipelineError(.missingArtifact, "the partial sums of block \(k), slice \(s) (\(path)) are missing")
            }
            let width = slice.pieces.count * sharding.layout.outputWidth
            guard data.count == rows * width * 8 else {
                throw PipelineError(.missingArtifact, "\(path) holds \(data.count) bytes, not \(rows) rows × \(width) sums")
            }
            sums.append(
                data.withUnsafeBytes { raw in
                    (0..<(rows * width)).map {
                        Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self)))
                    }
                })
        }
        func go(_ i: Int, _ acc: [(pieces: [Int], values: UnsafeBufferPointer<Double>)]) throws -> [Double] {
            if i == sums.count { return try sharding.layout.combine(slices: acc, rows: rows) }
            return try sums[i].withUnsafeBufferPointer { try go(i + 1, acc + [(sharding.slices[i].pieces, $0)]) }
        }
        let predictions: [Double]
        do { predictions = try go(0, []) } catch { throw PipelineError(.jobFailed, "block \(k): \(error)") }
        var text: [UInt8] = []
        predictions.withUnsafeBufferPointer { format.appendRows($0, rows: rows, to: &text) }
        return text
    }

    private func progressLine(at time: EngineTime) throws -> String {
        let inFlight = parts.values.reduce(0) { $0 + $1.written }
        let done = (sealedRows + inFlight) / sliceCount
        let total = settings.index.rows
        let tasks = try store.tasks()
        let doneTasks = tasks.filter { $0.state == .done }
        let blocksDone = Dictionary(grouping: doneTasks, by: \.name.partition).values.filter { $0.count == sliceCount }.count
        var line = "\(work): blocks \(blocksDone)/\(settings.blocks.count)"
        if settings.sharding != nil { line += " (tasks \(doneTasks.count)/\(tasks.count), \(sliceCount) tree slices per block)" }
        line += ", rows \(done)/\(total)"
        if let started, time.monotonic > started, done > 0 {
            let rate = Double(done) / (time.monotonic - started)
            line += String(format: " (%.0f rows/s, ETA %.0f s)", rate, Double(total - done) / rate)
        }
        let workers = try store.workers().filter { $0.state == .connected }
        if !workers.isEmpty {
            line += "; workers " + workers.map { "\($0.id) \(ByteCount($0.rss ?? 0))/\(ByteCount($0.memoryLimit))" }.joined(separator: ", ")
        }
        return line
    }
}
