import ArgumentParser
import Cluster
import Forest
import Foundation
import Logging
import SpaceTime
import ZeroMQ

/// Flags for failure detection and recovery (short windows help tests and flaky networks alike).
struct LivenessFlags: ParsableArguments {
    @Option(name: .customLong("heartbeat"), parsing: .unconditional, help: "Heartbeat interval, 0.05...60 seconds.") var heartbeat = 1.0
    @Option(parsing: .unconditional, help: "Heartbeats missed before a worker is presumed dead, 2...1000.") var liveness = 5
    @Option(name: .customLong("max-attempts"), parsing: .unconditional, help: "Attempts per task before the job fails, 1...1000.")
    var maxAttempts = 3
    @Option(
        name: .customLong("checkpoint-every"), parsing: .unconditional,
        help:
            "1...4096: training workers send their trees every this many trees (and at the end of the task). 1 loses the least work when a worker dies; more means fewer messages and store writes when trees are cheap."
    )
    var checkpointEvery = 1

    func validate() throws {
        guard heartbeat >= 0.05, heartbeat <= 60 else {
            throw ValidationError("--heartbeat must be in 0.05...60 seconds, got \(heartbeat)")
        }
        try OptionRange.check(liveness, 2...1000, "--liveness")
        try OptionRange.check(maxAttempts, 1...1000, "--max-attempts")
        try OptionRange.check(checkpointEvery, 1...4096, "--checkpoint-every")
    }

    func apply(to engine: inout CoordinatorEngine.Configuration) throws {
        try validate()
        engine.checkpointEvery = checkpointEvery
        engine.heartbeatInterval = heartbeat
        engine.liveness = liveness
        engine.leaseDuration = max(30, heartbeat * Double(liveness) * 3)
    }
}

func parseMemory(_ text: String, _ flag: String) throws -> MemorySize {
    do { return try MemorySize(parsing: text) } catch { throw ValidationError("\(flag): \(error)") }
}

/// `--progress`, shared by `coordinator` and `local`.
struct ProgressFlags: ParsableArguments {
    @Option(
        help:
            "Progress display: auto (a bar when standard error is a terminal and TERM is not dumb, else plain log lines), bar, plain or none."
    )
    var progress: ProgressMode = .auto

    /// The progress terminal on standard error (with `auto` resolved).
    func terminal() -> ProgressTerminal { ProgressTerminal.standardError(progress) }

    /// Sets the job's progress output for `terminal`.
    func apply(to options: inout CoordinatorJob.Options, terminal: ProgressTerminal) {
        switch terminal.mode {
        case .bar:
            options.progress = .snapshots { terminal.show($0) }
            options.progressInterval = 0.25
        case .none:
            options.progress = .none
        default:
            options.progress = .lines
        }
    }
}

/// Writes the job report (text to stdout, JSON and HTML optionally) from the store.
func reportJob(
    store: JobStore, modelOut: String, workers: [LocalCluster.WorkerSlot], reportJSON: String?,
    reportHTML: String?, coordinatorLimit: MemorySize? = nil
) throws {
    let model = try ForestModel.load(from: modelOut)
    let timings = try store.stageTimings()
    let records = try store.workers()
    var taskPeak: [String: UInt64] = [:]
    for task in try store.tasks() {
        for a in try store.attempts(of: task.name) { taskPeak[a.workerID] = max(taskPeak[a.workerID] ?? 0, a.peakRSS ?? 0) }
    }
    var text = "\nstage              wall s      rows/s\n"
    var stages: [JobRunReport.Stage] = []
    for t in timings {
        let seconds = (t.endedAt ?? t.startedAt) - t.startedAt
        let rate = t.rows.map { seconds > 0 ? String(format: "%.0f", Double($0) / seconds) : "-" } ?? "-"
        text += t.step.padding(toLength: 17, withPad: " ", startingAt: 0) + String(format: "%8.2f", seconds) + rate.leftPad(12) + "\n"
        stages.append(JobRunReport.Stage(stage: t.step, seconds: seconds, rows: t.rows))
    }
    text += "\nworker  pid       peak RSS      limit  cgroup peak  exit\n"
    var workerReports: [JobRunReport.Worker] = []
    for r in records {
        let slot = workers.first { $0.id == r.id }
        let peak = max(r.peakRSS ?? 0, taskPeak[r.id] ?? 0)
        let cg = slot?.cgroupPeak.map { ByteCount(UInt64($0)).description } ?? "-"
        text +=
            r.id.padding(toLength: 8, withPad: " ", startingAt: 0) + String(r.pid).padding(toLength: 8, withPad: " ", startingAt: 0)
            + ByteCount(peak).description.leftPad(11) + ByteCount(r.memoryLimit).description.leftPad(11) + cg.leftPad(13)
            + "  " + (slot?.exit ?? r.state.rawValue) + "\n"
        workerReports.append(
            JobRunReport.Worker(
                id: r.id, pid: r.pid, peakRSS: peak, limit: r.memoryLimit,
                cgroupPeak: slot?.cgroupPeak, exit: slot?.exit))
    }
    // This process's high-water mark (VmHWM): the coordinator, including loading the model for this report.
    let coordinatorPeak = MemorySample.current().peakRSS
    text += "coordinator peak RSS \(ByteCount(coordinatorPeak))" + (coordinatorLimit.map { " of its \($0) --memory-limit" } ?? "") + "\n"
    let classes = model.extractor.classes
    if let m = model.testMetrics { text += "\ntest: " + m.textReport(classes: classes) }
    let permutation = try JobReport.mergedEvaluation(store: store, task: model.extractor.task)?.permutation
    if let p = permutation { text += p.textReport(features: model.extractor.featureNames) }
    text += "model \(modelOut) fingerprint \(model.fingerprintHex)\n"
    try Output.print(text, terminator: "")
    if let reportJSON {
        let partitions = try store.partitions()
        let report = JobRunReport(
            testMetrics: InlineMetrics(
                metrics: model.testMetrics.map { MetricsReport($0, classes: classes) },
                classes: classes, task: model.forest.task),
            fingerprint: model.fingerprintHex, model: modelOut,
            partitions: partitions.count, partitionRows: partitions.map { $0.trainRows ?? 0 },
            trees: model.forest.trees.count, stages: stages, workers: workerReports, coordinatorPeakRSS: coordinatorPeak,
            parameters: ForestParametersReport(model.parameters, task: model.schema.task),
            permutationImportance: permutation.map { PermutationImportanceReport($0, features: model.extractor.featureNames) })
        try writeJSONReport(report, to: reportJSON)
    }
    if let reportHTML {
        try writeJobHTMLReport(store: store, workers: workers, to: reportHTML)
        try Output.print("report \(reportHTML)")
    }
}

extension String {
    func leftPad(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}

struct CoordinatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Run a distributed training job: shard a CSV over workers, merge, evaluate, save the model.",
        discussion: """
            Streams FILE once per row pass, assigns every row to a partition and to train/test with the \
            same stratified seeded hash as 'spacetime train', and sends row batches to workers over \
            ZeroMQ with credit-based flow control. The job's state lives in JOB-DIR/job.sqlite; a \
            coordinator killed at any moment continues with --resume. Binding a non-loopback address \
            needs CURVE keys (--curve-secret, --allow-workers) or an explicit --insecure.
            """
    )

    @Argument(help: "Training data (CSV with a header row).") var file: String
    @Option(help: "Endpoint to bind, e.g. tcp://0.0.0.0:5555.") var bind: String
    @Option(name: .customLong("job-dir"), help: "Job directory (its SQLite store).") var jobDir: String
    @Flag(help: "Continue the job in --job-dir from its store.") var resume = false
    @Option(
        name: .customLong("memory-limit"),
        help:
            "This coordinator's own memory budget (at least 1MiB): row batches in flight are sized from it, and its RSS is watched against it (a warning over 80 %, not enforced)."
    ) var memoryLimit = "1GiB"
    @Option(name: .customLong("worker-memory-limit"), help: "The workers' memory limit partitions are sized for (at least 16MiB).")
    var workerMemoryLimit = "512MiB"
    @Option(
        name: .customLong("wait-workers"), parsing: .unconditional,
        help: "Wait for this many workers, 0...256 (at most 10 s), before the first assignments.") var waitWorkers = 1
    @OptionGroup var security: CurveServerFlags
    @OptionGroup var training: ForestTrainingFlags
    @OptionGroup var evaluation: EvaluationScoringFlags
    @OptionGroup var derivation: DerivationFlag
    @OptionGroup var csv: CSVFormatFlags
    @OptionGroup var liveness: LivenessFlags
    @OptionGroup var display: ProgressFlags

    func validate() throws {
        let limit = try parseMemory(memoryLimit, "--memory-limit")
        guard limit.bytes >= 1 << 20 else { throw ValidationError("--memory-limit \(memoryLimit) is below the minimum 1MiB") }
        try OptionRange.workerMemory(workerMemoryLimit, "--worker-memory-limit")
        try OptionRange.check(waitWorkers, 0...OptionRange.maxWorkers, "--wait-workers")
        try training.checkOutputs(dataFile: file)
    }

    func run() async throws {
        let parameters = try training.forestParameters()
        let limit = try parseMemory(memoryLimit, "--memory-limit")
        let workerLimit = try parseMemory(workerMemoryLimit, "--worker-memory-limit")
        let terminal = display.terminal()
        let logger = Logger.standardError("coordinator", terminal: terminal)
        var options = CoordinatorJob.Options(
            dataPath: file, bind: bind, jobDirectory: jobDir, forest: parameters,
            modelOut: training.modelOut)
        options.resume = resume
        options.treeSizeGiven = training.forest.treeSizeGiven
        options.givenFlags = ResumeRules.givenFlags(CommandLine.arguments)
        options.columns = training.columns.choices
        options.maxBins = training.maxBins
        options.derivation = derivation.identifier
        options.csv = try csv.options()
        options.derivations = RegisteredDerivations.registry
        options.testFraction = training.testFraction
        options.testPath = training.testFile
        options.partitions = training.partitions
        options.permutationRepeats = training.permutation.count
        options.scoring = evaluation.scoring
        options.slices = evaluation.slices
        options.workerMemoryLimit = UInt64(workerLimit.bytes)
        options.engine.startupWorkers = max(1, waitWorkers)
        try liveness.apply(to: &options.engine)
        options.maxAttempts = liveness.maxAttempts
        display.apply(to: &options, terminal: terminal)
        options.provenance = [
            "created": ISO8601DateFormatter().string(from: Date()), "host": ProcessInfo.processInfo.hostName,
            "tool": "spacetime \(SpaceTimeVersion.string) coordinator"
        ]
        options.curve = try security.curve(bind: bind, logger: logger)
        options.coordinatorMemoryLimit = UInt64(limit.bytes)
        // SIGTERM and SIGINT: the job stops to be resumed (its workers keep reconnecting), 128 + the signal.
        let prepared = options
        let (reportJSON, reportHTML) = (training.reportJSON, training.reportHTML)
        let interrupted = try await Lifecycle.run("coordinator", signals: [.sigterm, .sigint]) { shutdown -> Int32? in
            let job = try CoordinatorJob(options: prepared, context: try Context(), logger: logger)
            logger.info("listening on \(job.endpoint)")
            let watch = MemoryWatch(who: "coordinator", limit: limit, logger: logger)
            watch.start()
            defer { watch.stop() }
            shutdown.onShutdown { signal in
                logger.warning("\(Lifecycle.name(signal)): stopping; continue later with --resume")
                try? job.stop()
            }
            let outcome = try job.wait()
            if case .done = outcome { terminal.end(jobDone: true) } else { terminal.end() }
            switch outcome {
            case .done(let path):
                try reportJob(
                    store: job.store, modelOut: path, workers: [], reportJSON: reportJSON,
                    reportHTML: reportHTML, coordinatorLimit: limit)
                return nil
            case .failed(let message):
                if let html = reportHTML { try writeJobHTMLReport(store: job.store, workers: [], to: html) }
                throw PipelineError(.jobFailed, "job failed: \(message)")
            case .stopped:
                return shutdown.signal ?? SIGTERM
            }
        }
        if let interrupted { throw ExitCode(128 + interrupted) }
    }
}
