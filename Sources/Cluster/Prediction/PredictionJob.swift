import Forest
import Foundation
import Logging
import SpaceTime
import ZeroMQ

/// A distributed prediction (`spacetime predict … --workers N` or `--bind`):
/// loads the model, resolves the input's columns exactly as single-process
/// `spacetime predict` does (same errors), indexes the input in one pass,
/// cuts it into blocks (`PredictionBlockPlan`), creates `predict/pK` tasks in
/// the job store (`JOB-DIR/job.sqlite`), and serves workers with
/// `PredictionDriver` until the output is written or the job fails.
///
/// Scoring is whole-model or tree-sharded (``ScoringPlan``, from the model's size and
/// the workers' memory limit, or `Options.scoring`): sharded, each slice of the forest is
/// stored as its own artifact and there is a task `predict/pK.tA-B` for every (block K, slice
/// of trees A..<B): the block is the partition, the slice the task's variant.
///
/// The same job shape runs `spacetime transform --workers` (``Options/Work/transform``): no
/// model; each block's worker parses its rows with the transform's extractor and sends them
/// back, and the driver writes them as NumPy shards into `outPath` in input order.
public final class PredictionJob: Sendable {
    public struct Options: Sendable {
        /// What the job computes from the input's blocks.
        public enum Work: Sendable {
            /// Predictions of the model file at `modelPath`, as CSV text into `outPath`.
            case predictions(modelPath: String)
            /// The rows of a fitted transform, as NumPy shards and a manifest into the directory `outPath`.
            case transform(DatasetTransform, DatasetTransform.Options)
        }
        public var work: Work
        public var dataPath: String
        /// Output path, or "-" for standard output; a transform's shard directory.
        public var outPath: String
        public var proba = false
        public var bind: String
        public var jobDirectory: String
        /// The workers' memory limit blocks are sized for.
        public var workerMemoryLimit: UInt64 = 512 << 20
        /// Rows per block (a multiple of the index granule above it); nil: planned.
        public var blockRows: Int?
        public var granule = 1024
        public var maxAttempts = 3
        public var engine = CoordinatorEngine.Configuration()
        public var curve: (secretKey: CurveSecretKey, allowedWorkers: [CurvePublicKey])?
        /// Whole-model or tree-sharded scoring (`auto`: from the model's size and `workerMemoryLimit`).
        public var scoring = ScoringPlan.Choice.auto
        /// Slices of a sharded scoring (nil: planned).
        public var slices: Int?
        /// How the input is written (delimiter, header or column names); the workers get the
        /// delimiter and the column names in the job's CSV schema.
        public var csv = CSVOptions()
        /// Where the feature derivation a model records is found; the workers apply the one
        /// they register under its identifier.
        public var derivations = FeatureDerivationRegistry()

        /// `bind`: the endpoint workers connect to (a wildcard port is resolved when bound).
        public init(work: Work, dataPath: String, outPath: String, bind: String = "tcp://127.0.0.1:*", jobDirectory: String) {
            self.work = work
            self.dataPath = dataPath
            self.outPath = outPath
            self.bind = bind
            self.jobDirectory = jobDirectory
        }
    }

    public let options: Options
    public let store: JobStore
    public let blocks: [Range<Int>]
    public let rows: Int
    /// How the workers score (whole model or tree slices).
    public let scoring: ScoringPlan
    private let run: CoordinatorRun

    /// The bound endpoint (wildcard port resolved).
    public var endpoint: String { run.endpoint }

    /// What differs between a prediction and a transform: the parser of the input's columns,
    /// the tasks' parameters and blob, and how rows are sized, scored and written.
    private struct Work {
        var parser: RecordParser
        var parameters: PredictionParameters
        /// The model (or the transform's extractor) the tasks load.
        var blob: Data
        var extractor: FeatureExtractor
        var model: ForestModel?
        var trees: Int
    }

    public init(options: Options, context: Context, logger: Logger) throws {
        self.options = options
        // The same column resolution (and errors) as the single-process command.
        let (header, rawHeader, _) = try CoordinatorJob.readHeader(options.dataPath, options: options.csv)
        let work: Work
        switch options.work {
        case .predictions(let modelPath):
            let model: ForestModel
            do { model = try ForestModel.load(from: modelPath) } catch { throw PipelineError(wrapping: error) }
            let parser: RecordParser
            do {
                parser = try StreamingPrediction.parser(
                    model: model, header: header, file: options.dataPath,
                    derivation: try options.derivations.derivation(for: model))
            } catch {
                throw PipelineError(wrapping: error)
            }
            work = Work(
                parser: parser,
                parameters: PredictionParameters(
                    source: options.dataPath, schema: parser.schema,
                    derivation: model.extractor.derivationIdentifier),
                blob: Data(model.serialize()), extractor: model.extractor, model: model, trees: model.forest.trees.count)
        case .transform(let transform, _):
            let schema: DatasetSchema
            do { schema = try transform.schema.relocated(header: header, file: options.dataPath) } catch {
                throw PipelineError(wrapping: error)
            }
            work = Work(
                parser: RecordParser(schema: schema),
                parameters: PredictionParameters(
                    source: options.dataPath, schema: schema,
                    derivation: transform.extractor.derivationIdentifier, output: .transformRows),
                blob: Data(transform.extractor.serialize()), extractor: transform.extractor, model: nil, trees: 0)
        }
        let parser = work.parser

        let started = Date().timeIntervalSince1970
        let storePath = (options.jobDirectory as NSString).appendingPathComponent("job.sqlite")
        guard !FileManager.default.fileExists(atPath: storePath) else {
            throw PipelineError(.jobFailed, "\(options.jobDirectory) already holds a job; give another --job-dir")
        }
        // Offsets must be offsets in one plain file: a compressed or multi-part input is copied
        // into the job directory first (removed again, with a directory made for it, on failure).
        var indexPath = options.dataPath
        var removeCopy: () -> Void = {}
        if try PredictionInput.needsCopy(options.dataPath) {
            let madeDirectory = !FileManager.default.fileExists(atPath: options.jobDirectory)
            try FileManager.default.createDirectory(atPath: options.jobDirectory, withIntermediateDirectories: true)
            indexPath = (options.jobDirectory as NSString).appendingPathComponent(PredictionInput.fileName)
            let copyPath = indexPath
            let directory = options.jobDirectory
            removeCopy = {
                try? FileManager.default.removeItem(atPath: copyPath)
                if madeDirectory { try? FileManager.default.removeItem(atPath: directory) }
            }
            do {
                let rows = try PredictionInput.copy(options.dataPath, to: indexPath, parser: parser, options: options.csv)
                logger.info(
                    "\(options.dataPath) is compressed or in parts: its \(rows) records were decompressed and concatenated once into \(indexPath), which the blocks are read from"
                )
            } catch {
                removeCopy()
                throw error
            }
        }
        let index: CSVBlockIndex
        do {
            index = try CSVBlockIndex(
                path: indexPath, options: options.csv, granule: min(options.granule, max(1, options.blockRows ?? .max)))
        } catch {
            removeCopy()
            throw error
        }
        rows = index.rows
        let modelBytes = work.blob
        var layout: ForestScoringLayout?
        var reason: String?
        var plan = ScoringPlan.whole
        if let model = work.model {
            let modelLayout = ForestScoringLayout(model.forest)
            layout = modelLayout
            (plan, reason) = ScoringPlan.choose(
                options.scoring, layout: modelLayout, modelBytes: UInt64(modelBytes.count),
                memoryLimit: options.workerMemoryLimit, slices: options.slices)
        }
        scoring = plan
        var sliceBlobs: [(trees: Range<Int>, pieces: [Int], bytes: Data)] = []
        if case .sharded(let ranges) = plan, let model = work.model {
            do {
                for r in ranges {
                    let slice = try ForestModelSlice(model, trees: r)
                    sliceBlobs.append((r, slice.slice.pieces, Data(slice.serialize())))
                }
            } catch {
                removeCopy()
                throw PipelineError(.badInput, "slicing the model: \(error)")
            }
        }
        if let reason { logger.info("scoring: \(reason)") }
        let width =
            work.model.map { m in sliceBlobs.map { $0.pieces.count }.max().map { $0 * m.forest.outputWidth } ?? m.forest.outputWidth }
            ?? TransformRows.width(features: work.extractor.featureCount)
        let blockRows = PredictionBlockPlan.blockRows(
            totalRows: index.rows, features: work.extractor.featureCount,
            classes: width,
            modelBytes: UInt64(sliceBlobs.map(\.bytes.count).max() ?? modelBytes.count),
            memoryLimit: options.workerMemoryLimit, granule: index.granule,
            override: options.blockRows)
        blocks = PredictionBlockPlan.blocks(totalRows: index.rows, blockRows: blockRows)

        var serverOptions = CoordinatorServer.Options()
        serverOptions.engine = options.engine
        serverOptions.engine.scheduler.plan = .prediction
        serverOptions.curve = options.curve
        // Bound before anything is written: a bad --bind leaves no job directory behind.
        do {
            run = try CoordinatorRun(context: context, bind: options.bind, options: serverOptions, logger: logger)
        } catch let error as CoordinatorBindError {
            removeCopy()
            throw PipelineError(.badParameters, "--bind: \(error) (no job was created)")
        }
        do {
            store = try Self.prepare(
                options: options, work: work, header: header, rawHeader: rawHeader,
                index: index, blocks: blocks, blockRows: blockRows,
                layout: layout, slices: sliceBlobs, scoringReason: reason,
                started: started, storePath: storePath, logger: logger, run: run)
        } catch {
            run.abandon()
            throw error
        }
    }

    /// Creates the `predict` tasks of `blocks` (one per block and slice) in a new store at `storePath` and starts `run` serving them.
    private static func prepare(
        options: Options, work: Work, header: [String], rawHeader: Data, index: CSVBlockIndex,
        blocks: [Range<Int>], blockRows: Int, layout: ForestScoringLayout?,
        slices: [(trees: Range<Int>, pieces: [Int], bytes: Data)], scoringReason: String?,
        started: Double, storePath: String,
        logger: Logger, run: CoordinatorRun
    ) throws -> JobStore {
        try FileManager.default.createDirectory(atPath: options.jobDirectory, withIntermediateDirectories: true)
        let parts = (options.jobDirectory as NSString).appendingPathComponent("parts")
        try FileManager.default.createDirectory(atPath: parts, withIntermediateDirectories: true)
        let store = try JobStore(path: storePath)
        let now = Date().timeIntervalSince1970
        let kind = work.model == nil ? "transform" : "predict"
        let spec = JobSpec(
            jobID: "\(kind)-\(UInt32.random(in: 0...UInt32.max))", dataFiles: [options.dataPath],
            parameters: work.parameters.serialize(), seed: 0, partitions: blocks.count, testFraction: 0,
            trees: work.trees, maxAttempts: options.maxAttempts)
        // Sharded: task predict/pK.tA-B scores block K with the slice of trees A..<B.
        try store.createPredictionJob(
            spec, blockRows: blocks.map(\.count),
            variants: slices.isEmpty ? [.whole] : slices.map { .trees($0.trees) }, now: now)
        if work.model != nil { try store.putArtifact("model", work.blob, now: now) }
        for (s, slice) in slices.enumerated() {
            try store.putArtifact(PredictionDriver.Sharding.artifactName(slice: s), slice.bytes, now: now)
        }
        if let scoringReason { try store.log(.scoringPlan, "predict: \(scoringReason)", now: now) }
        try store.putArtifact("extractor", Data(work.extractor.serialize()), now: now)
        try store.stepStarted("index", now: started)
        try store.stepEnded("index", rows: index.rows, now: now)
        logger.info(
            "job \(spec.jobID): \(options.dataPath), \(index.rows) rows in \(blocks.count) block(s) of up to \(blockRows) rows (indexed in \(String(format: "%.2f", now - started)) s); \(work.model == nil ? "extractor" : "model") \(ByteCount(UInt64(work.blob.count)))\(work.model == nil ? "" : ", \(work.trees) trees")"
        )

        var schema = WireCsvSchema()
        schema.headerRecord = rawHeader
        schema.labelColumn = UInt32(work.parser.schema.targetIndex ?? 0)
        schema.delimiter = UInt32(options.csv.delimiter)
        schema.columnCount = UInt32(header.count)

        let output: PredictionDriver.Output
        switch (options.work, work.model) {
        case (.transform(let transform, let transformOptions), _):
            output = .shards(
                .init(
                    transform: transform, options: transformOptions, directory: options.outPath, source: options.dataPath,
                    labels: work.parser.schema.targetIndex != nil))
        case (.predictions, let model?):
            output = .predictions(format: PredictionFormat(model: model, proba: options.proba), classes: model.extractor.classes)
        case (.predictions, nil):
            throw PipelineError(.badParameters, "a prediction job without a model")
        }
        let settings = PredictionDriver.Settings(
            index: index, blocks: blocks, csvOptions: options.csv, output: output,
            outPath: options.outPath, partsDirectory: parts,
            sharding: slices.isEmpty
                ? nil
                : layout.map { layout in
                    PredictionDriver.Sharding(
                        layout: layout,
                        slices: slices.enumerated().map {
                            .init(
                                trees: $1.trees, pieces: $1.pieces,
                                artifact: PredictionDriver.Sharding.artifactName(slice: $0))
                        })
                })
        run.start(store: store, schema: schema) { onFinished in
            PredictionDriver(store: store, settings: settings, onFinished: onFinished)
        }
        return store
    }

    /// Tells the coordinator a local worker process ended (from the launcher);
    /// `peakMemory`: its memory cgroup's peak charge in bytes, when it had one.
    public func workerProcessEnded(workerID: String, signal: Int32?, status: Int32?, peakMemory: UInt64? = nil) {
        run.workerProcessEnded(workerID: workerID, signal: signal, status: status, peakMemory: peakMemory)
    }

    /// Blocks until the job is done or failed, then lets the shutdown reach the
    /// workers and stops the socket; `.stopped` after ``stop()``.
    public func wait() throws -> JobOutcome { try run.wait() }

    /// Stops serving without finishing the job (SIGTERM); the workers exit. ``wait()``
    /// then returns `.stopped`.
    public func stop() throws { try run.stop(workersReconnect: false) }
}
