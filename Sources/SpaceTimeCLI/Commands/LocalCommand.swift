import ArgumentParser
import Cluster
import Foundation
import Logging
import SpaceTime
import ZeroMQ

struct LocalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "local",
        abstract: "Train on this host with a coordinator and N worker processes, each under a memory limit.",
        discussion: """
            This process is the coordinator (bound to tcp://127.0.0.1:*); it starts N 'spacetime worker' \
            processes, each in its own memory cgroup with --memory-limit when cgroups are writable (else \
            the worker limits itself, and this says so). At the end it prints per stage the wall time \
            and rows/s, each worker's peak RSS against its limit, and the test metrics.
            """
    )

    @Argument(help: "Training data (CSV with a header row).") var file: String
    @Option(parsing: .unconditional, help: "Worker processes to start, 1...256.") var workers = 2
    @Option(name: .customLong("memory-limit"), help: "Each worker's memory limit, at least 16MiB (e.g. 512MiB).") var memoryLimit = "512MiB"
    @Option(
        name: .customLong("job-dir"),
        help:
            "Job directory (default: a new temporary directory, removed when the job ends, kept only when the run is interrupted, for --resume; give --job-dir to keep a failed job)."
    ) var jobDir: String?
    @Flag(help: "Continue the job in --job-dir.") var resume = false
    @Option(parsing: .unconditional, help: "Threads per worker, 1...1024.") var threads = 1
    @Option(name: .customLong("spill-dir"), help: "Parent directory for the workers' spill files.") var spillDir: String?
    @Option(
        name: .customLong("split-out"),
        help: "Also write the job's train/test split as DIR/train.csv and DIR/test.csv (for comparisons with other tools).") var splitOut:
        String?
    @OptionGroup var training: ForestTrainingFlags
    @OptionGroup var evaluation: EvaluationScoringFlags
    @OptionGroup var derivation: DerivationFlag
    @OptionGroup var csv: CSVFormatFlags
    @OptionGroup var liveness: LivenessFlags
    @OptionGroup var display: ProgressFlags

    func validate() throws {
        try OptionRange.check(workers, 1...OptionRange.maxWorkers, "--workers")
        try OptionRange.check(threads, 1...OptionRange.maxThreads, "--threads")
        try OptionRange.workerMemory(memoryLimit, "--memory-limit")
        try training.checkOutputs(dataFile: file, splitOut: splitOut)
    }

    func run() async throws {
        let limit = try parseMemory(memoryLimit, "--memory-limit")
        let parameters = try training.forestParameters()
        let terminal = display.terminal()
        let logger = Logger.standardError("coordinator", terminal: terminal)
        let dir =
            jobDir
            ?? (NSTemporaryDirectory() as NSString).appendingPathComponent("spacetime-job-\(ProcessInfo.processInfo.processIdentifier)")
        var options = CoordinatorJob.Options(
            dataPath: file, bind: "tcp://127.0.0.1:*", jobDirectory: dir, forest: parameters,
            modelOut: training.modelOut)
        options.resume = resume
        options.treeSizeGiven = training.forest.treeSizeGiven
        options.givenFlags = ResumeRules.givenFlags(CommandLine.arguments)
        options.columns = training.columns.choices
        options.maxBins = training.maxBins
        options.testFraction = training.testFraction
        options.testPath = training.testFile
        options.partitions = training.partitions
        options.permutationRepeats = training.permutation.count
        options.derivation = derivation.identifier
        options.csv = try csv.options()
        options.derivations = RegisteredDerivations.registry
        options.scoring = evaluation.scoring
        options.slices = evaluation.slices
        options.workerMemoryLimit = UInt64(limit.bytes)
        options.workerThreads = threads
        options.engine.startupWorkers = workers
        try liveness.apply(to: &options.engine)
        options.maxAttempts = liveness.maxAttempts
        display.apply(to: &options, terminal: terminal)
        options.provenance = [
            "created": ISO8601DateFormatter().string(from: Date()), "host": ProcessInfo.processInfo.hostName,
            "tool": "spacetime \(SpaceTimeVersion.string) local"
        ]
        let (splitOut, reportJSON, reportHTML) = (self.splitOut, training.reportJSON, training.reportHTML)
        let command = self
        try await LocalJobRun(
            command: "local", options: options, workers: workers, threads: threads, spillDir: spillDir,
            memoryLimit: limit, temporary: jobDir == nil, terminal: terminal, logger: logger
        ).run { job, cluster, outcome in
            switch outcome {
            case .done(let path):
                try reportJob(
                    store: job.store, modelOut: path, workers: cluster.workers, reportJSON: reportJSON,
                    reportHTML: reportHTML)
                if let splitOut { try command.writeSplit(job: job, to: splitOut) }
            case .failed:
                if let html = reportHTML { try writeJobHTMLReport(store: job.store, workers: cluster.workers, to: html) }
            case .stopped:
                break
            }
        }
    }

    /// Streams the data once more with the job's assigner and writes its train and test rows.
    func writeSplit(job: CoordinatorJob, to dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let dataPath = job.spec.dataFiles.first ?? file
        let (_, header, _) = try CoordinatorJob.readHeader(dataPath, options: job.layout.csvOptions)
        // With --test-file, test.csv holds that file's rows (all of them test rows).
        // Stratified as the job's pass was: by the label for classification, one stratum for regression.
        let parameters = try ForestJobParameters(deserializing: job.spec.parameters)
        let source = try CSVRecordSource(
            path: dataPath, labelIndex: job.layout.labelIndex,
            stratify: parameters.schema.task == .classification, seed: job.spec.seed,
            testFraction: job.spec.testFraction, partitions: job.spec.partitions,
            testPath: job.spec.dataFiles.count > 1 ? job.spec.dataFiles[1] : nil,
            options: job.layout.csvOptions)
        let train = try AtomicFileWriter(path: dir + "/train.csv")
        let test = try AtomicFileWriter(path: dir + "/test.csv")
        let newline: [UInt8] = [UInt8(ascii: "\n")]
        for w in [train, test] { try w.append([UInt8](header) + newline) }
        while let record = try source.next() {
            try (record.isTest ? test : train).append([UInt8](record.bytes) + newline)
        }
        try train.commit()
        try test.commit()
    }
}
