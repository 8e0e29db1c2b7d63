import Forest
import Foundation
import Logging
import SpaceTime
import ZeroMQ

/// A whole coordinator run (`spacetime coordinator`, and the coordinator
/// inside `spacetime local`): opens or resumes the job directory's store,
/// binds the ROUTER socket, drives the job with `ForestCoordinatorDriver`
/// and returns when the job is done or failed.
public final class CoordinatorJob: Sendable {
    public struct Options: Sendable {
        public var dataPath: String
        public var bind: String
        public var jobDirectory: String
        public var resume = false
        public var forest: ForestParameters
        public var maxBins = FeatureExtractor.maxValueBins
        /// Label column, task, categorical and ignored columns (decided once, at job creation).
        public var columns = ColumnChoices()
        public var testFraction = 0.2
        /// `--test-file`: held-out test rows from this file (same header) instead of `testFraction`;
        /// stored with the job (`JobSpec.dataFiles[1]`), so `--resume` reads it again.
        public var testPath: String?
        /// Nil: planned from the data size and `workerMemoryLimit`.
        public var partitions: Int?
        /// A cross-validation job (`spacetime cv --workers`) of this many folds instead of a
        /// training job: every row is in one fold, none held out as a test row.
        public var folds: Int?
        /// A cross-validation job's evaluate tasks return the held-out rows' predictions
        /// (`cv --oof-out`; a resumed job keeps what it was started with).
        public var keepPredictions = false
        /// A cross-validation job over this parameter grid (`cv --grid` text; "" for none):
        /// every point is cross-validated on the same folds, extraction and binned rows.
        public var grid = ""
        /// The memory limit partitions are sized for.
        public var workerMemoryLimit: UInt64 = 512 << 20
        public var workerThreads = 1
        /// The coordinator's own memory budget (nil: the default 1 MiB row batches).
        public var coordinatorMemoryLimit: UInt64?
        public var modelOut: String
        public var maxAttempts = 3
        public var engine = CoordinatorEngine.Configuration()
        public var curve: (secretKey: CurveSecretKey, allowedWorkers: [CurvePublicKey])?
        public var provenance: [String: String] = [:]
        /// The long flags given on the command line (``ResumeRules/givenFlags(_:)``): on a
        /// resume only these are compared with the job's and taken. Nil: all of them.
        public var givenFlags: Set<String>?
        /// Where progress goes, and seconds between snapshots.
        public var progress: ProgressOutput = .lines
        public var progressInterval: Double = 2
        /// Shuffles per feature of the permutation importance the evaluate tasks compute (0: none).
        public var permutationRepeats = 0
        /// The feature derivation every worker applies, by identifier ("" for none), and the
        /// derivations this executable knows (to check the data's columns before the job starts).
        public var derivation = ""
        public var derivations = FeatureDerivationRegistry()
        /// How the data and test files are written (delimiter, header or column names); the
        /// workers receive the delimiter and the column names in the job's CSV schema.
        public var csv = CSVOptions()
        /// The user gave `--max-depth` or `--min-samples-leaf`: ``TreeSizeRule`` keeps the
        /// parameters and only warns when the model cannot be scored within the workers' limit.
        public var treeSizeGiven = false
        /// How evaluate tasks score (whole model or tree slices; ``ScoringPlan``).
        public var scoring = ScoringPlan.Choice.auto
        public var slices: Int?

        public init(dataPath: String, bind: String, jobDirectory: String, forest: ForestParameters, modelOut: String) {
            self.dataPath = dataPath
            self.bind = bind
            self.jobDirectory = jobDirectory
            self.forest = forest
            self.modelOut = modelOut
        }
    }

    public let options: Options
    public let store: JobStore
    public let spec: JobSpec
    public let layout: CSVLayout
    private let run: CoordinatorRun
    /// `JOB-DIR/job.lock`, held for this object's life: one coordinator per job directory.
    private let ownerLock: OwnerLock

    /// The job directory's lock file.
    public static func lockPath(jobDirectory: String) -> String {
        (jobDirectory as NSString).appendingPathComponent("job.lock")
    }

    /// The bound endpoint (wildcard port resolved).
    public var endpoint: String { run.endpoint }

    /// Prepares the job (creating or resuming its store) and starts serving workers.
    ///
    /// In this order: the job directory's lock (one coordinator per job), the bind
    /// (a bad `--bind` creates nothing, and a resumed job is left as it was), then
    /// the store: a new job is created, or a resumed one is checked against the
    /// command line (``ResumeRules``) before anything in it changes.
    public init(options: Options, context: Context, logger: Logger) throws {
        self.options = options
        let directoryExisted = FileManager.default.fileExists(atPath: options.jobDirectory)
        do {
            try FileManager.default.createDirectory(atPath: options.jobDirectory, withIntermediateDirectories: true)
        } catch {
            throw PipelineError(.io, "job directory \(options.jobDirectory): cannot create it: \(error.localizedDescription)")
        }
        let lockPath = Self.lockPath(jobDirectory: options.jobDirectory)
        // Before the store is read: a second coordinator would abandon the running one's attempts.
        do { ownerLock = try OwnerLock.acquire(lockPath) } catch {
            guard error.code == .held else { throw PipelineError(.io, "job directory \(options.jobDirectory): \(error)") }
            let holder = error.holder.map { "a coordinator, \($0)" } ?? "another process"
            throw PipelineError(
                .jobFailed,
                "job directory \(options.jobDirectory) is in use by \(holder): one coordinator per job; stop that one first (SIGTERM), then --resume"
            )
        }
        var serverOptions = CoordinatorServer.Options()
        serverOptions.engine = options.engine
        // A resumed job has the shape it was created with (checked against its spec below).
        serverOptions.engine.scheduler.plan = options.folds == nil ? .training : .crossValidation
        serverOptions.curve = options.curve
        let storePath = (options.jobDirectory as NSString).appendingPathComponent("job.sqlite")
        let hadJob = FileManager.default.fileExists(atPath: storePath)
        let lock = ownerLock
        // A job directory this run made and no job was created in goes again.
        let removeIfEmpty = {
            guard !directoryExisted, !FileManager.default.fileExists(atPath: storePath) else { return }
            lock.release()
            try? FileManager.default.removeItem(atPath: options.jobDirectory)
        }
        do {
            run = try CoordinatorRun(context: context, bind: options.bind, options: serverOptions, logger: logger)
        } catch let error as CoordinatorBindError {
            removeIfEmpty()
            throw PipelineError(
                .badParameters, "--bind: \(error) (\(hadJob ? "the job in \(options.jobDirectory) is unchanged" : "no job was created"))")
        } catch {
            removeIfEmpty()
            throw error
        }
        do {
            let prepared = try Self.prepare(options: options, storePath: storePath, logger: logger)
            store = prepared.store
            spec = prepared.spec
            layout = prepared.settings.layout
            let store = prepared.store
            let settings = prepared.settings
            run.start(store: store, schema: prepared.schema) { onFinished in
                ForestCoordinatorDriver(store: store, settings: settings, onFinished: onFinished)
            }
        } catch {
            run.abandon()
            removeIfEmpty()
            throw error
        }
    }

    /// What ``prepare(options:storePath:log:)`` makes ready to serve.
    private struct Prepared {
        var store: JobStore
        var spec: JobSpec
        var schema: WireCsvSchema
        var settings: ForestCoordinatorDriver.Settings
    }

    /// Creates the job in the store at `storePath`, or resumes the one there (see ``ResumeRules``).
    private static func prepare(
        options: Options, storePath: String,
        logger: Logger
    ) throws -> Prepared {
        let exists = FileManager.default.fileExists(atPath: storePath)
        if options.resume && !exists {
            throw PipelineError(.missingArtifact, "--resume: no job in \(options.jobDirectory) (no job.sqlite)")
        }
        // A new job's store is created only once its inputs have passed (below): a bad input leaves none.
        var store = exists ? try JobStore(path: storePath) : nil
        let now = Date().timeIntervalSince1970
        var spec: JobSpec
        if let existing = try store?.jobSpec(), let store {
            guard options.resume else {
                throw PipelineError(
                    .jobFailed,
                    "\(options.jobDirectory) already holds job \(existing.jobID); use --resume to continue it or another --job-dir")
            }
            // A training job resumes as training, a cross-validation job as one of the same K folds.
            guard existing.folds == options.folds else {
                let what = { (folds: Int?) in folds.map { "a \($0)-fold cross-validation job" } ?? "a training job" }
                throw PipelineError(
                    .badParameters,
                    "--resume: \(options.jobDirectory) holds \(what(existing.folds)), not \(what(options.folds)) as this command asks")
            }
            spec = try resolveResume(existing, options: options, store: store, logger: logger, now: now)
        } else {
            if options.resume {
                throw PipelineError(.missingArtifact, "--resume: no job in \(options.jobDirectory) (its job.sqlite holds none)")
            }
            spec = JobSpec(
                jobID: "job-\(UInt32.random(in: 0...UInt32.max))",
                dataFiles: [options.dataPath] + (options.testPath.map { [$0] } ?? []),
                parameters: Data(), seed: options.forest.seed, partitions: 1,
                testFraction: options.testPath == nil && options.folds == nil ? options.testFraction : 0, trees: options.forest.trees,
                maxAttempts: options.maxAttempts)
            spec.folds = options.folds
        }
        let dataPath = spec.dataFiles.first ?? options.dataPath
        let testPath = spec.dataFiles.count > 1 ? spec.dataFiles[1] : nil
        let (header, rawHeader, sampleBytesPerRow) = try Self.readHeader(dataPath, options: options.csv)
        var testBytes: UInt64 = 0
        if let testPath {
            let (testHeader, _, _) = try Self.readHeader(testPath, options: options.csv)
            guard testHeader == header else {
                throw PipelineError(
                    .badInput,
                    "--test-file \(testPath): its header (\(testHeader.joined(separator: ","))) differs from the training file \(dataPath)'s (\(header.joined(separator: ","))); the test file needs the same columns in the same order"
                )
            }
            testBytes = UInt64(Self.textBytes(testPath, logger: logger))
        }
        if spec.parameters.isEmpty {
            // The schema is decided here, once, and stored with the job: a resumed job and
            // every worker read the columns the same way.
            let inference: SchemaInference.Inference
            do { inference = try SchemaInference.infer(path: dataPath, choices: options.columns, options: options.csv) } catch {
                throw PipelineError(wrapping: error)
            }
            logger.info(
                "\(inference.schema.task.rawValue): \(inference.reason); \(inference.schema.featureCount) features (\(inference.schema.categoricalCount) categorical)"
            )
            var parameters = ForestJobParameters(
                forest: options.forest, schema: inference.schema, maxBins: options.maxBins,
                source: (dataPath as NSString).lastPathComponent,
                sampledRows: inference.sampledRows)
            parameters.permutationRepeats = options.permutationRepeats
            parameters.folds = spec.folds ?? 0
            parameters.keepPredictions = spec.folds != nil && options.keepPredictions
            if spec.folds != nil { parameters.grid = options.grid }
            parameters.files = Self.jobFiles(dataPath, testPath, logger: logger)
            if !options.derivation.isEmpty {
                guard inference.schema.categoricalCount == 0 else {
                    throw PipelineError(
                        .badParameters,
                        "a feature derivation needs numeric input columns; \(inference.schema.categoricalCount) column(s) hold text")
                }
                do { _ = try options.derivations.derivation(options.derivation, inputNames: inference.schema.featureNames) } catch {
                    throw PipelineError(.badParameters, error.message)
                }
                parameters.derivation = options.derivation
            }
            let size = UInt64(Self.textBytes(dataPath, logger: logger))
            // With a test file the planner sees both files, the test file's share as the test fraction.
            let planTestFraction = testPath == nil ? options.testFraction : Double(testBytes) / Double(max(1, size + testBytes))
            let plan = PartitionPlanner.plan(
                .init(
                    dataBytes: size + testBytes, sampleBytesPerRow: sampleBytesPerRow,
                    features: inference.schema.featureCount,
                    // Histogram words per bin before the statistics merge: a binary
                    // classification cell or a regression cell are both 2 words.
                    histogramWordsPerBin: 2,
                    memoryLimit: options.workerMemoryLimit, testFraction: planTestFraction,
                    threadsPerWorker: options.workerThreads, override: options.partitions))
            if let message = plan.message { logger.warning("partition plan: \(message)") }
            let pointTrees: [Int]
            do { pointTrees = try parameters.pointParameters().map(\.trees) } catch { throw PipelineError(.badParameters, "\(error)") }
            guard let fewest = pointTrees.min(), plan.partitions <= fewest else {
                throw PipelineError(
                    .badParameters,
                    "\(plan.partitions) partitions need at least as many trees; raise --trees\(parameters.grid.isEmpty ? "" : " (and the grid's trees)") or lower --partitions"
                )
            }
            let treeSize = TreeSizeRule.decide(
                parameters: parameters.forest, explicit: options.treeSizeGiven,
                partitionRows: plan.partitionRows, task: inference.schema.task,
                outputWidth: inference.schema.task == .classification ? 2 : 1,
                featureCount: inference.schema.featureCount, memoryLimit: options.workerMemoryLimit)
            logger.log(level: treeSize.overBudget ? .warning : .info, "tree size: \(treeSize.message)")
            parameters.forest = treeSize.parameters
            spec.partitions = plan.partitions
            if !parameters.grid.isEmpty {
                parameters.partitions = plan.partitions
                spec.pointTrees = try parameters.pointParameters().map(\.trees)
            }
            spec.parameters = parameters.serialize()
            let identities = try spec.dataFiles.map { try DataFileIdentity(path: $0) }
            let created = try store ?? JobStore(path: storePath)
            store = created
            try created.createJob(spec, now: now)
            for (k, identity) in identities.enumerated() {
                try created.putArtifact("data-identity-\(k)", identity.encoded, now: now)
            }
            logger.info(
                "job \(spec.jobID): \(dataPath)\(testPath.map { " (test rows: \($0))" } ?? ""), \(spec.partitions) partition(s) (~\(plan.rowsPerPartition) training rows each), \(spec.trees) trees, seed \(spec.seed)"
            )
        }
        let parameters = try ForestJobParameters(deserializing: spec.parameters)
        guard parameters.schema.header == header, let labelIndex = parameters.schema.targetIndex else {
            throw PipelineError(.badInput, "\(dataPath): the header differs from the one the job was created with")
        }
        let layout = CSVLayout(header: header, labelIndex: labelIndex, delimiter: options.csv.delimiter, hasHeader: options.csv.hasHeader)

        var schema = WireCsvSchema()
        schema.headerRecord = rawHeader
        schema.labelColumn = UInt32(labelIndex)
        schema.delimiter = UInt32(options.csv.delimiter)
        schema.columnCount = UInt32(header.count)

        var settings = ForestCoordinatorDriver.Settings(
            dataPath: dataPath, layout: layout, parameters: parameters,
            testFraction: spec.testFraction, partitions: spec.partitions,
            modelOut: options.modelOut)
        settings.folds = spec.folds
        settings.testPath = testPath
        settings.scoring = options.scoring
        settings.slices = options.slices
        settings.provenance = options.provenance
        if let budget = options.coordinatorMemoryLimit {
            settings.memoryLimit = budget
            settings.rowLimits.batchBytes = Self.rowBatchBytes(budget: budget, partitions: spec.partitions)
        }
        settings.progress = options.progress
        settings.progressInterval = options.progressInterval
        guard let store else { throw PipelineError(.missingArtifact, "job store \(storePath): no job was created") }
        return Prepared(store: store, spec: spec, schema: schema, settings: settings)
    }

    /// A resume of `existing`: refuses a changed data file and changed model flags
    /// (nothing in the store changes then), takes a moved data file and the
    /// operational flags, revives a failed job and abandons the attempts the
    /// previous coordinator left running. Returns the spec to run with.
    private static func resolveResume(
        _ existing: JobSpec, options: Options, store: JobStore,
        logger: Logger, now: Timestamp
    ) throws -> JobSpec {
        var spec = existing
        var notes: [String] = []
        // The data: the job's files, or the same bytes under another path.
        let given: [String?] = [options.dataPath, options.testPath]
        for (k, recordedPath) in existing.dataFiles.enumerated() {
            let what = k == 0 ? "the data file" : "--test-file"
            let recorded = try store.artifact("data-identity-\(k)").flatMap(DataFileIdentity.init(encoded:))
            let candidate = (k < given.count ? given[k] : nil) ?? recordedPath
            guard let recorded else {
                // A store from before identities were recorded: only the recorded path can be trusted.
                if candidate != recordedPath {
                    logger.warning("--resume: the job was created on \(recordedPath); \(candidate) is not used")
                }
                continue
            }
            let current: DataFileIdentity
            do { current = try DataFileIdentity(path: candidate) } catch {
                let moved = candidate == recordedPath ? "" : " (the job was created on \(recordedPath))"
                throw PipelineError(
                    .badInput,
                    "--resume: \(what) \(candidate) cannot be read\(moved): \(error); give the file job \(existing.jobID) was created on")
            }
            let changes = recorded.differences(from: current)
            if !changes.isEmpty {
                let name =
                    candidate == recordedPath
                    ? "\(candidate) changed since job \(existing.jobID) was created"
                    : "\(candidate) is not the file job \(existing.jobID) was created on (\(recordedPath))"
                throw PipelineError(
                    .badInput,
                    "--resume: \(name) (\(changes.joined(separator: ", "))); resuming would mix trees of two data sets: start a new job (another --job-dir)"
                )
            }
            if candidate != recordedPath {
                spec.dataFiles[k] = candidate
                notes.append("\(what) \(candidate) (same size and edge digests as \(recordedPath), which the job was created on)")
            }
        }
        if existing.dataFiles.count < 2, let testPath = options.testPath {
            throw PipelineError(
                .badParameters,
                ResumeRules.refusal(
                    jobID: existing.jobID,
                    conflicts: [
                        .init(flag: "--test-file", given: testPath, job: "none: it holds out --test-fraction \(existing.testFraction)")
                    ]))
        }
        // Model flags: refused when given with another value.
        let stored = try ForestJobParameters(deserializing: existing.parameters)
        let conflicts = ResumeRules.conflicts(
            stored: stored, spec: existing, hasTestFile: existing.dataFiles.count > 1,
            forest: options.forest, maxBins: options.maxBins, partitions: options.partitions,
            testFraction: options.testFraction, columns: options.columns, grid: options.grid,
            given: options.givenFlags)
        if options.givenFlags?.contains("derivation") ?? true, options.derivation != stored.derivation {
            throw PipelineError(
                .badParameters,
                ResumeRules.refusal(
                    jobID: existing.jobID,
                    conflicts: conflicts + [
                        .init(
                            flag: "--derivation", given: options.derivation.isEmpty ? "none" : options.derivation,
                            job: stored.derivation.isEmpty ? "none" : stored.derivation)
                    ]))
        }
        if !conflicts.isEmpty {
            throw PipelineError(.badParameters, ResumeRules.refusal(jobID: existing.jobID, conflicts: conflicts))
        }
        // Operational flags: taken.
        if options.givenFlags?.contains("max-attempts") ?? true, options.maxAttempts != existing.maxAttempts {
            spec.maxAttempts = options.maxAttempts
            notes.append("--max-attempts \(options.maxAttempts) (was \(existing.maxAttempts))")
        }
        if spec != existing {
            try store.updateJobSpec(spec, note: "resumed with \(notes.joined(separator: "; "))", now: now)
        }
        if !notes.isEmpty { logger.info("--resume: taken from the command line: \(notes.joined(separator: "; "))") }
        let before = try store.stage()
        let plan = JobPlan.of(spec)
        let scheduler = Scheduler(configuration: .init(plan: plan))
        let gates = Scheduler.Gates(produced: try plan.storedArtifacts(in: store, folds: spec.folds ?? 0, points: spec.points))
        if let failure = try store.resetForResume(
            stage: { tasks in
                scheduler.stage(tasks: tasks.map { Scheduler.TaskView(name: $0.name, state: $0.state) }, gates: gates)
            }, now: now)
        {
            logger.warning(
                "--resume: job \(existing.jobID) had failed (\(failure)); its failed tasks run again, each with \(spec.maxAttempts) attempt(s); finished tasks and checkpointed trees are kept"
            )
        }
        let abandoned = try store.abandonActiveAttempts(reason: "coordinator restarted", now: now)
        try store.log(.resumed, "coordinator resumed; \(abandoned.count) running attempt(s) abandoned", now: now)
        let stage = try store.stage()?.rawValue ?? "?"
        let trees = try store.partitions().map {
            "p\($0.partition) \(try store.checkpointedTrees(partition: $0.partition).count)/\($0.trees)"
        }
        logger.info(
            "resuming job \(spec.jobID) at stage \(stage)\(before == .failed ? " (it had failed)" : ""); \(abandoned.count) attempt(s) from before the restart abandoned; trees in the store: \(trees.joined(separator: ", "))"
        )
        return spec
    }

    /// Tells the coordinator a local worker process ended (from the launcher);
    /// `peakMemory`: its memory cgroup's peak charge in bytes, when it had one.
    public func workerProcessEnded(workerID: String, signal: Int32?, status: Int32?, peakMemory: UInt64? = nil) {
        run.workerProcessEnded(workerID: workerID, signal: signal, status: status, peakMemory: peakMemory)
    }

    /// Blocks until the job is done or failed, then lets the shutdown reach the
    /// workers and stops the socket; `.stopped` after ``stop()``.
    public func wait() throws -> JobOutcome { try run.wait() }

    /// Stops serving without finishing the job (SIGTERM), to be resumed: the
    /// workers keep reconnecting, so a resumed coordinator finds them. ``wait()``
    /// then returns `.stopped`.
    public func stop() throws { try run.stop(workersReconnect: true) }

    /// Row batch size for a coordinator memory `budget`: a quarter of it for
    /// rows in flight, where each partition's stream holds its open batch and
    /// up to 8 more queued for its worker (the workers' default credit); at
    /// least 64 KiB, at most 1 MiB.
    public static func rowBatchBytes(budget: UInt64, partitions: Int) -> Int {
        let share = budget / 4 / UInt64(9 * max(1, partitions))
        return Int(min(1 << 20, max(64 << 10, share)))
    }

    /// The header fields, the raw header record, and the mean bytes per
    /// record of the first ~1,000 records (within the first MiB).
    ///
    /// Read by the same `CSVReader` as every other path, so the header is
    /// split the same way everywhere: a UTF-8 byte-order mark is not part of
    /// the first name (nor of the raw record sent to the workers), LF, CRLF
    /// and bare CR line ends all work, a quoted header field may hold a line
    /// end, and a compressed or binary file is refused with the reader's
    /// message.
    /// The text size of a data set for planning: the file size of a plain file, else an estimate
    /// (`CSVInput.estimatedTextBytes`), logged with what it rests on.
    static func textBytes(_ path: String, logger: Logger) -> Int {
        guard let input = try? CSVInput(path: path) else { return 0 }
        let (bytes, bases) = input.estimatedTextBytes()
        if bases != [.fileSize] || input.isMultiPart {
            let parts = input.isMultiPart ? "\(input.parts.count) part(s), " : ""
            logger.info("\(path): \(parts)\(bytes) bytes of CSV text for planning (\(bases.map(\.rawValue).joined(separator: " + ")))")
        }
        return bytes
    }

    /// The files workers name in errors (`ForestJobParameters.files`): every part of the data
    /// set, then of the test file, when there is more than one; none when they would take over
    /// a quarter of the inline blob limit (workers then name the data set).
    static func jobFiles(_ dataPath: String, _ testPath: String?, logger: Logger) -> [String] {
        let inputs = [dataPath] + (testPath.map { [$0] } ?? [])
        let files = inputs.flatMap { (try? CSVInput(path: $0).parts) ?? [$0] }
        guard files.count > 1 else { return [] }
        let bytes = files.reduce(0) { $0 + 4 + $1.utf8.count }
        guard bytes <= ProtocolLimits().maxInlineBlobBytes / 4 else {
            logger.info(
                "the \(files.count) files' names take \(bytes) bytes: workers' errors will name \(dataPath), not the file a bad record is in"
            )
            return []
        }
        return files
    }

    /// The column names, the header record sent to workers (for a file without a header, the
    /// names written as one with the delimiter) and the mean bytes per record of a sample.
    public static func readHeader(_ path: String, options: CSVOptions = CSVOptions()) throws -> ([String], Data, Double) {
        let reader: CSVReader
        do { reader = try CSVReader(path: path, options: options) } catch {
            throw PipelineError(wrapping: error)
        }
        defer { reader.close() }
        let raw = options.hasHeader ? reader.headerRecord : CSVOptions.headerLine(reader.header, delimiter: options.delimiter)
        let headerBytes = reader.bytesRead
        reader.extractOnly(column: 0)
        var records = 0
        // Only an estimate for the planner: a malformed record here is reported by the pass itself.
        while records < 1000, reader.bytesRead - headerBytes < 1 << 20, (try? reader.next()) != nil {
            records += 1
        }
        let perRow = records > 0 ? Double(reader.bytesRead - headerBytes) / Double(records) : Double(max(1, raw.count))
        return (reader.header, Data(raw), perRow)
    }
}
