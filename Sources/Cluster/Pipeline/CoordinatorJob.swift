import Foundation
import Forest
import SpaceTime
import ZeroMQ

/// A whole coordinator run (`spacetime coordinator`, and the coordinator
/// inside `spacetime local`): opens or resumes the job directory's store,
/// binds the ROUTER socket, drives the job with `ForestCoordinatorDriver`
/// and returns when the job is done or failed.
public final class CoordinatorJob: @unchecked Sendable {
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
        /// Where progress goes, and seconds between snapshots.
        public var progress: ProgressOutput = .lines
        public var progressInterval: Double = 2

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
    public init(options: Options, context: Context, log: @escaping @Sendable (CoordinatorLogLevel, String) -> Void) throws {
        self.options = options
        try FileManager.default.createDirectory(atPath: options.jobDirectory, withIntermediateDirectories: true)
        // Before the store is read: a second coordinator would abandon the running one's attempts.
        do { ownerLock = try OwnerLock.acquire(Self.lockPath(jobDirectory: options.jobDirectory)) } catch {
            guard error.code == .held else { throw PipelineError(.io, "job directory \(options.jobDirectory): \(error)") }
            let holder = error.holder.map { "a coordinator, \($0)" } ?? "another process"
            throw PipelineError(.jobFailed, "job directory \(options.jobDirectory) is in use by \(holder): one coordinator per job; stop that one first (SIGTERM), then --resume")
        }
        let storePath = (options.jobDirectory as NSString).appendingPathComponent("job.sqlite")
        let exists = FileManager.default.fileExists(atPath: storePath)
        if options.resume && !exists {
            throw PipelineError(.missingArtifact, "--resume: no job in \(options.jobDirectory) (no job.sqlite)")
        }
        let store = try JobStore(path: storePath)
        self.store = store
        let now = Date().timeIntervalSince1970
        var spec: JobSpec
        if let existing = try store.jobSpec() {
            guard options.resume else {
                throw PipelineError(.jobFailed, "\(options.jobDirectory) already holds job \(existing.jobID); use --resume to continue it or another --job-dir")
            }
            spec = existing
            let abandoned = try store.abandonActiveAttempts(reason: "coordinator restarted", now: now)
            try store.log(.resumed, "coordinator resumed; \(abandoned.count) running attempt(s) abandoned", now: now)
            log(.info, "resuming job \(spec.jobID) at stage \(try store.stage()?.rawValue ?? "?"); \(abandoned.count) attempt(s) from before the restart abandoned; trees in the store: \(try store.partitions().map { "p\($0.partition) \(try store.checkpointedTrees(partition: $0.partition).count)/\($0.trees)" }.joined(separator: ", "))")
        } else {
            spec = JobSpec(jobID: "job-\(UInt32.random(in: 0...UInt32.max))",
                           dataFiles: [options.dataPath] + (options.testPath.map { [$0] } ?? []),
                           parameters: Data(), seed: options.forest.seed, partitions: 1,
                           testFraction: options.testPath == nil ? options.testFraction : 0, trees: options.forest.trees,
                           maxAttempts: options.maxAttempts)
        }
        let dataPath = spec.dataFiles.first ?? options.dataPath
        let testPath = spec.dataFiles.count > 1 ? spec.dataFiles[1] : nil
        if options.resume, let given = options.testPath, given != testPath {
            log(.warning, "--resume: the job was created with \(testPath.map { "--test-file \($0)" } ?? "no --test-file"); \(given) is not used")
        }
        if options.resume && options.dataPath != dataPath {
            log(.warning, "--resume: the job was created on \(dataPath); \(options.dataPath) is not used")
        }
        // A file changed since the job was created would mix two data sets in one model.
        for (k, path) in spec.dataFiles.enumerated() {
            guard let recorded = try store.artifact("data-identity-\(k)").flatMap(DataFileIdentity.init(encoded:)) else { continue }
            let changes = recorded.differences(from: try DataFileIdentity(path: path))
            if !changes.isEmpty {
                throw PipelineError(.badInput, "--resume: \(path) changed since job \(spec.jobID) was created (\(changes.joined(separator: ", "))); resuming would mix trees of two data sets: start a new job (another --job-dir)")
            }
        }
        let (header, rawHeader, sampleBytesPerRow) = try Self.readHeader(dataPath)
        var testBytes: UInt64 = 0
        if let testPath {
            let (testHeader, _, _) = try Self.readHeader(testPath)
            guard testHeader == header else {
                throw PipelineError(.badInput, "--test-file \(testPath): its header (\(testHeader.joined(separator: ","))) differs from the training file \(dataPath)'s (\(header.joined(separator: ","))); the test file needs the same columns in the same order")
            }
            testBytes = (try? FileManager.default.attributesOfItem(atPath: testPath)[.size] as? UInt64) ?? 0
        }
        if spec.parameters.isEmpty {
            // The schema is decided here, once, and stored with the job: a resumed job and
            // every worker read the columns the same way.
            let inference: SchemaInference.Inference
            do { inference = try SchemaInference.infer(path: dataPath, choices: options.columns) } catch {
                throw PipelineError(.badInput, "\(error)")
            }
            log(.info, "\(inference.schema.task.rawValue): \(inference.reason); \(inference.schema.featureCount) features (\(inference.schema.categoricalCount) categorical)")
            let parameters = ForestJobParameters(forest: options.forest, schema: inference.schema, maxBins: options.maxBins,
                                                 source: (dataPath as NSString).lastPathComponent,
                                                 sampledRows: inference.sampledRows)
            let size = (try? FileManager.default.attributesOfItem(atPath: dataPath)[.size] as? UInt64) ?? 0
            // With a test file the planner sees both files, the test file's share as the test fraction.
            let planTestFraction = testPath == nil ? options.testFraction : Double(testBytes) / Double(max(1, size + testBytes))
            let plan = PartitionPlanner.plan(.init(dataBytes: size + testBytes, sampleBytesPerRow: sampleBytesPerRow,
                                                   features: inference.schema.featureCount,
                                                   // Histogram words per bin before the statistics merge: a binary
                                                   // classification cell or a regression cell are both 2 words.
                                                   histogramWordsPerBin: 2,
                                                   memoryLimit: options.workerMemoryLimit, testFraction: planTestFraction,
                                                   threadsPerWorker: options.workerThreads, override: options.partitions))
            if let message = plan.message { log(.warning, "partition plan: \(message)") }
            guard plan.partitions <= parameters.forest.trees else {
                throw PipelineError(.badParameters, "\(plan.partitions) partitions need at least as many trees; raise --trees or lower --partitions")
            }
            spec.partitions = plan.partitions
            spec.parameters = parameters.serialize()
            try store.createJob(spec, now: now)
            for (k, path) in spec.dataFiles.enumerated() {
                try store.putArtifact("data-identity-\(k)", DataFileIdentity(path: path).encoded, now: now)
            }
            log(.info, "job \(spec.jobID): \(dataPath)\(testPath.map { " (test rows: \($0))" } ?? ""), \(spec.partitions) partition(s) (~\(plan.rowsPerPartition) training rows each), \(spec.trees) trees, seed \(spec.seed)")
        }
        self.spec = spec
        let parameters = try ForestJobParameters(deserializing: spec.parameters)
        if options.resume {
            let changed = Self.changedParameters(stored: parameters, testFraction: spec.testFraction, given: options)
            if !changed.isEmpty {
                log(.warning, "--resume: the job keeps the parameters it was created with; the command line's differ and are not used: \(changed.joined(separator: ", "))")
            }
        }
        guard parameters.schema.header == header, let labelIndex = parameters.schema.targetIndex else {
            throw PipelineError(.badInput, "\(dataPath): the header differs from the one the job was created with")
        }
        layout = CSVLayout(header: header, labelIndex: labelIndex)

        var schema = WireCsvSchema()
        schema.headerRecord = rawHeader
        schema.labelColumn = UInt32(labelIndex)
        schema.delimiter = UInt32(UInt8(ascii: ","))
        schema.columnCount = UInt32(header.count)

        var settings = ForestCoordinatorDriver.Settings(dataPath: dataPath, layout: layout, parameters: parameters,
                                                        testFraction: spec.testFraction, partitions: spec.partitions,
                                                        modelOut: options.modelOut)
        settings.testPath = testPath
        settings.provenance = options.provenance
        if let budget = options.coordinatorMemoryLimit {
            settings.memoryLimit = budget
            settings.rowLimits.batchBytes = Self.rowBatchBytes(budget: budget, partitions: spec.partitions)
        }
        settings.progress = options.progress
        settings.progressInterval = options.progressInterval
        let driverSettings = settings
        var serverOptions = CoordinatorServer.Options()
        serverOptions.engine = options.engine
        serverOptions.curve = options.curve
        run = try CoordinatorRun(context: context, bind: options.bind, store: store, schema: schema, options: serverOptions,
                                 log: log) { onFinished in
            ForestCoordinatorDriver(store: store, settings: driverSettings, onFinished: onFinished)
        }
    }

    /// Tells the coordinator a local worker process ended (from the launcher);
    /// `peakMemory`: its memory cgroup's peak charge in bytes, when it had one.
    public func workerProcessEnded(workerID: String, signal: Int32?, status: Int32?, peakMemory: UInt64? = nil) {
        run.workerProcessEnded(workerID: workerID, signal: signal, status: status, peakMemory: peakMemory)
    }

    /// Blocks until the job is done or failed, then lets the shutdown reach the
    /// workers and stops the socket.
    public func wait() throws -> JobOutcome { try run.wait() }

    /// Stops serving without finishing the job (SIGTERM), to be resumed: the
    /// workers keep reconnecting, so a resumed coordinator finds them.
    public func stop() throws { try run.stop(workersReconnect: true) }

    /// The training flags of `given` that differ from the job's stored ones, as
    /// `name stored → given` (a resumed job keeps its own: its trees were grown with them).
    static func changedParameters(stored: ForestJobParameters, testFraction: Double, given: Options) -> [String] {
        var changed: [String] = []
        let a = stored.forest.jsonObject(task: stored.schema.task), b = given.forest.jsonObject(task: stored.schema.task)
        for key in a.keys.sorted() where "\(a[key] ?? "")" != "\(b[key] ?? "")" {
            changed.append("\(key) \(a[key] ?? "") → \(b[key] ?? "")")
        }
        if stored.maxBins != given.maxBins { changed.append("max_bins \(stored.maxBins) → \(given.maxBins)") }
        if given.testPath == nil && testFraction != given.testFraction {
            changed.append("test_fraction \(testFraction) → \(given.testFraction)")
        }
        return changed
    }

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
    public static func readHeader(_ path: String) throws -> ([String], Data, Double) {
        let reader: CSVReader
        do { reader = try CSVReader(path: path) } catch { throw PipelineError(error.code == .io ? .io : .badInput, error.description) }
        defer { reader.close() }
        let raw = reader.headerRecord
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
