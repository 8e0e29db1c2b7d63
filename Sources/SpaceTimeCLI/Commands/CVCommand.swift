import ArgumentParser
import Cluster
import Forest
import Foundation
import Logging
import SpaceTime

struct CVCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cv",
        abstract: "Cross-validate a random forest (and search a parameter grid) on a CSV file, in one process or over workers.",
        discussion: """
            Streams FILE once and deals each class's rows to K folds by seeded random permutations \
            (stratified: every fold gets the same share of each class to one row; regression: of all \
            rows). For each fold the feature extractor is fitted on the other folds' \
            statistics only, a forest is grown on the other folds' rows and scored on the fold. \
            Prints each fold's metrics and their mean ± standard deviation (sample, n − 1): \
            accuracy, AUC and log loss, or R², RMSE and MAE. With --grid every combination is \
            cross-validated on the same folds and binned rows and ranked by mean accuracy or R²; \
            --refit then trains the best on all rows and saves it.

            With --workers N the cross-validation is one cluster job as `local` runs it: this \
            process is the coordinator and starts N workers, each under --memory-limit. One CSV \
            pass deals the rows to the same folds as in one process; one extract task per \
            partition keeps statistics per fold, each fold's extractor is the merge of the other \
            folds' statistics, K train tasks per partition grow each fold's share of the trees, and \
            the workers holding a fold's rows score them. The per-fold metrics do not depend on \
            the worker count (they do on --partitions, as a model does). With --grid every point \
            is one more set of K train and evaluate tasks per partition in the same job, on the \
            same extraction and fold extractors; --refit trains the best point in this process. \
            --oof-out collects the (best point's) held-out rows' predictions from the workers.

            With --bind ENDPOINT the same job runs over workers that join from any host \
            ('spacetime worker --connect ENDPOINT --memory-limit M' on each, M no smaller than \
            --memory-limit), as 'coordinator' runs a training: assignments wait for \
            --wait-workers of them, a non-loopback endpoint needs CURVE keys (--curve-secret, \
            --allow-workers) or --insecure, and --job-dir with --resume continues a killed run.
            """
    )

    @Argument(help: "Data (CSV with a header row).") var file: String
    @Option(parsing: .unconditional, help: "Folds, 2...\(CrossValidation.maxFolds).") var folds = 5
    @OptionGroup var columns: ColumnFlags
    @OptionGroup var csv: CSVFormatFlags
    @OptionGroup var forest: ForestParameterFlags
    @Option(
        help: ArgumentHelp(
            "Parameter grid, e.g. 'max-features=sqrt,0.3;min-samples-leaf=1,5;trees=100,300' (names: \(ParameterGrid.names.joined(separator: ", "))).",
            valueName: "spec"))
    var grid: String?
    @Flag(help: "Train the best combination on all rows and save it to --model-out (the CV table goes into the model's provenance).")
    var refit = false
    @Option(name: .customLong("model-out"), help: "Where --refit writes the model (never an input file).") var modelOut = "model.stm"
    @Option(
        name: .customLong("oof-out"),
        help: "Write out-of-fold predictions (of the best combination) here, in input order: fold, prediction and class probabilities.")
    var oofOut: String?
    @Option(
        parsing: .unconditional,
        help: "Threads for tree growing, 1...1024 (default: all cores; with --workers: per worker, default 1).")
    var threads: Int?
    @Option(parsing: .unconditional, help: "Cross-validate over this many local worker processes, 1...256 (default: in this process).")
    var workers: Int?
    @Option(
        help: ArgumentHelp(
            "Coordinate workers that join at this endpoint (e.g. tcp://0.0.0.0:5555) instead of starting local ones.",
            valueName: "endpoint"))
    var bind: String?
    @Option(
        name: .customLong("wait-workers"), parsing: .unconditional,
        help: "With --bind: wait for this many workers, 1...256 (at most 10 s after the first), before the first assignments.")
    var waitWorkers = 1
    @OptionGroup var security: CurveServerFlags
    @Option(
        name: .customLong("memory-limit"),
        help: "With --workers: each worker's memory limit; with --bind: the limit partitions are sized for. At least 16MiB.")
    var memoryLimit = "512MiB"
    @Option(parsing: .unconditional, help: "With --workers: row partitions (default: planned from the data size and --memory-limit).")
    var partitions: Int?
    @Option(
        name: .customLong("job-dir"),
        help: "With --workers: the job directory (default: a temporary one, kept only when the run is interrupted).")
    var jobDir: String?
    @Flag(help: "With --workers: continue the job in --job-dir.") var resume = false
    @Option(name: .customLong("spill-dir"), help: "With --workers: parent directory for the workers' spill files.") var spillDir: String?
    @OptionGroup var display: ProgressFlags
    @Option(name: .customLong("max-bins"), parsing: .unconditional, help: "Value bins per feature (2...255).") var maxBins = 255
    @Option(name: .customLong("report-json"), help: "Write a JSON report (per fold metrics, mean and standard deviation, ranking) here.")
    var reportJSON: String?

    /// Whether the CV runs as a cluster job (`--workers` or `--bind`).
    var overCluster: Bool { workers != nil || bind != nil }

    func validate() throws {
        _ = try forest.parameters()
        try OptionRange.check(folds, 2...CrossValidation.maxFolds, "--folds")
        if let threads { try OptionRange.check(threads, 1...OptionRange.maxThreads, "--threads") }
        if workers != nil && bind != nil { throw ValidationError("--workers starts local workers, --bind waits for others: give one") }
        if bind == nil, let flag = waitWorkers != 1 ? "--wait-workers" : security.firstGiven {
            throw ValidationError("\(flag) needs --bind")
        }
        try OptionRange.check(waitWorkers, 1...OptionRange.maxWorkers, "--wait-workers")
        if overCluster {
            if let workers { try OptionRange.check(workers, 1...OptionRange.maxWorkers, "--workers") }
            try OptionRange.workerMemory(memoryLimit, "--memory-limit")
            if let partitions { try OptionRange.check(partitions, 1...65_536, "--partitions") }
        } else {
            let clusterOnly: [(String, Bool)] = [
                ("--partitions", partitions != nil), ("--job-dir", jobDir != nil), ("--resume", resume),
                ("--spill-dir", spillDir != nil)
            ]
            if let (flag, _) = clusterOnly.first(where: { $0.1 }) { throw ValidationError("\(flag) needs --workers or --bind") }
        }
        if resume && jobDir == nil { throw ValidationError("--resume needs --job-dir") }
        try OptionRange.check(maxBins, 2...255, "--max-bins")
        if let grid { do { _ = try ParameterGrid(parsing: grid) } catch { throw ValidationError("--grid: \(error)") } }
        var outputs: [(String, String?)] = [("--report-json", reportJSON), ("--oof-out", oofOut)]
        if refit { outputs.append(("--model-out", modelOut)) }
        try OutputPaths.refuseOverwrite(outputs: outputs, inputs: [("data file", file)])
        try probeWritable(outputs)
    }

    func run() async throws {
        if overCluster { try await runOverWorkers() } else { try runInProcess() }
    }

    func runInProcess() throws {
        let threads = self.threads ?? min(ProcessInfo.processInfo.activeProcessorCount, OptionRange.maxThreads)
        var options = CrossValidationOptions(file: file)
        options.folds = folds
        options.threads = threads
        options.maxBins = maxBins
        options.columns = columns.choices
        options.csv = try csv.options()
        options.parameters = try forest.parameters()
        if let grid { options.grid = try ParameterGrid(parsing: grid) }
        options.keepPredictions = oofOut != nil
        let started = Date()
        let run = try CrossValidation.run(options, log: { writeStandardError("\($0)\n") })
        let ranking = run.ranking
        let best = ranking[0]

        var text =
            "\(folds)-fold cross-validation of \(run.rows) rows (\(run.schema.task.rawValue), \(threads) thread(s)) in \(String(format: "%.2f", Date().timeIntervalSince(started))) s\n"
        text += Self.ranked(run.results, ranking, cpu: true)

        if let oofOut {
            try Self.write(run.predictions[best], task: run.schema.task, classes: run.classes, to: oofOut)
            text += "out-of-fold predictions: \(oofOut)\n"
        }

        var refitModel: ForestModel? = nil
        if refit {
            let model = try refitBest(run.results[best], task: run.schema.task, threads: threads)
            text += model.line
            refitModel = model.model
        }
        try Output.print(text, terminator: "")

        if let reportJSON {
            let report = CrossValidationReport(
                task: run.schema.task.rawValue, taskReason: run.taskReason, folds: folds, rows: run.rows, threads: threads,
                classes: run.classes,
                seconds: ["read": run.readSeconds, "bin": run.binSeconds, "total": Date().timeIntervalSince(started)],
                cpuSeconds: ["total": processCPUSeconds()],
                points: run.results.map { CrossValidationPointReport($0, task: run.schema.task) },
                ranking: ranking, best: best,
                model: refitModel.map { _ in modelOut }, fingerprint: refitModel?.fingerprintHex)
            try writeJSONReport(report, to: reportJSON)
        }
    }

    /// Writes out-of-fold predictions (in input order) as `fold,prediction,p_<class>…` rows.
    static func write(_ oof: OutOfFoldPredictions, task: Forest.TaskKind, classes: [String], to path: String) throws {
        let format = PredictionFormat(task: task, classes: classes, proba: true)
        var bytes = Array("fold,".utf8) + format.header(classes: classes)
        oof.values.withUnsafeBufferPointer { v in
            for r in oof.lines.indices {
                bytes += Array("\(oof.folds[r] + 1),".utf8)
                format.appendRow(UnsafeBufferPointer(rebasing: v[r * oof.width..<(r + 1) * oof.width]), to: &bytes)
            }
        }
        try writeReport(String(decoding: bytes, as: UTF8.self), to: path, flag: "--oof-out")
    }

    /// Trains `best`'s parameters on all rows in this process and saves the model to
    /// `--model-out`, with the CV table in its provenance; returns it and the line saying so.
    func refitBest(_ best: CrossValidationResult, task: Forest.TaskKind, threads: Int) throws -> (model: ForestModel, line: String) {
        var training = TrainingOptions(trainFile: file)
        training.testFraction = 0
        training.columns = columns.choices
        training.threads = threads
        training.maxBins = maxBins
        training.parameters = best.parameters
        training.csv = try csv.options()
        var provenance = [
            "created": ISO8601DateFormatter().string(from: Date()),
            "host": ProcessInfo.processInfo.hostName,
            "tool": "spacetime \(SpaceTimeVersion.string) cv --refit"
        ]
        provenance["cross_validation"] = try ReportJSON.encode(CrossValidationPointReport(best, task: task))
        let result = try SingleProcessTraining.run(training, provenance: provenance, log: { writeStandardError("\($0)\n") })
        try result.model.save(to: modelOut)
        let label = best.label
        return (
            result.model,
            "refit\(label.isEmpty ? "" : " [\(label)]") on all \(result.trainRows) rows: model \(modelOut) fingerprint \(result.model.fingerprintHex)\n"
        )
    }

    /// The cross-validation as one job of a coordinator (this process) and `--workers` local
    /// worker processes, or the workers that join at `--bind`.
    func runOverWorkers() async throws {
        let limit = try parseMemory(memoryLimit, "--memory-limit")
        let parameters = try forest.parameters()
        let terminal = display.terminal()
        let logger = Logger.standardError("coordinator", terminal: terminal)
        let dir =
            jobDir
            ?? (NSTemporaryDirectory() as NSString).appendingPathComponent("spacetime-cv-\(ProcessInfo.processInfo.processIdentifier)")
        var options = CoordinatorJob.Options(
            dataPath: file, bind: bind ?? "tcp://127.0.0.1:*", jobDirectory: dir, forest: parameters, modelOut: modelOut)
        options.folds = folds
        options.keepPredictions = oofOut != nil
        options.grid = grid ?? ""
        options.resume = resume
        options.treeSizeGiven = forest.treeSizeGiven
        options.givenFlags = ResumeRules.givenFlags(CommandLine.arguments)
        options.columns = columns.choices
        options.maxBins = maxBins
        options.partitions = partitions
        options.csv = try csv.options()
        options.derivations = RegisteredDerivations.registry
        options.workerMemoryLimit = UInt64(limit.bytes)
        let threads = self.threads ?? 1
        options.workerThreads = threads
        options.engine.startupWorkers = workers ?? waitWorkers
        if let bind {
            options.curve = try security.curve(bind: bind, logger: logger)
        }
        display.apply(to: &options, terminal: terminal)
        let started = Date()
        let command = self
        try await LocalJobRun(
            command: "cv", options: options, workers: workers ?? 0, threads: threads, spillDir: spillDir,
            memoryLimit: limit, temporary: jobDir == nil, terminal: terminal, logger: logger
        ).run { job, _, outcome in
            guard case .done = outcome else { return }
            try command.reportJob(job.store, workers: try job.store.workers().count, started: started)
        }
    }

    /// Prints (and with --report-json writes) the per-fold tables of a finished cluster job,
    /// ranked with a grid; with --refit trains the best point's model.
    func reportJob(_ store: JobStore, workers: Int, started: Date) throws {
        let job = try CrossValidationJobResult(store: store)
        let partitions = try store.partitions().count
        let ranking = job.ranking
        let best = ranking[0]
        let result = job.points[best]
        var text =
            "\(folds)-fold cross-validation of \(job.rows) rows (\(job.task.rawValue), \(workers) worker(s), \(partitions) partition(s)) in \(String(format: "%.2f", Date().timeIntervalSince(started))) s\n"
        text += Self.ranked(job.points, ranking, cpu: false)
        if let oofOut {
            let predictions = try CrossValidationJobResult.outOfFoldPredictions(store: store, point: best)
            try Self.write(predictions, task: job.task, classes: job.classes, to: oofOut)
            text += "out-of-fold predictions: \(oofOut)\n"
        }
        var refitModel: ForestModel? = nil
        if refit {
            let model = try refitBest(
                result, task: job.task, threads: min(ProcessInfo.processInfo.activeProcessorCount, OptionRange.maxThreads))
            text += model.line
            refitModel = model.model
        }
        try Output.print(text, terminator: "")
        if let reportJSON {
            let report = CrossValidationReport(
                task: job.task.rawValue, taskReason: "", folds: folds, rows: job.rows, threads: threads ?? 1,
                classes: job.classes,
                seconds: ["total": Date().timeIntervalSince(started)],
                cpuSeconds: ["total": processCPUSeconds()],
                points: job.points.map { CrossValidationPointReport($0, task: job.task) },
                ranking: ranking, best: best,
                model: refitModel.map { _ in modelOut }, fingerprint: refitModel?.fingerprintHex)
            try writeJSONReport(report, to: reportJSON)
        }
    }

    /// Each point's fold table (best first), then with a grid the points ranked by mean score.
    static func ranked(_ results: [CrossValidationResult], _ ranking: [Int], cpu: Bool) -> String {
        var text = ""
        for g in ranking.count > 1 ? ranking : [ranking[0]] {
            let result = results[g]
            if ranking.count > 1 { text += "\n[\(result.label)]\n" }
            text += table(result)
        }
        guard ranking.count > 1 else { return text }
        text += "\nranked by mean \(results[ranking[0]].score.name):\n"
        for (rank, g) in ranking.enumerated() {
            let s = results[g].score
            text += String(format: "%3d  %.4f ± %.4f  ", rank + 1, s.mean, s.standardDeviation)
            if cpu { text += String(format: "%7.2f s CPU  ", results[g].cpuSeconds) }
            text += results[g].label + "\n"
        }
        return text
    }

    /// Per fold rows and metrics, then mean ± standard deviation.
    static func table(_ result: CrossValidationResult) -> String {
        let summaries = result.summaries
        var text =
            "fold   train    test" + summaries.map { " " + $0.name.padding(toLength: 10, withPad: " ", startingAt: 0) }.joined() + "\n"
        for (k, fold) in result.folds.enumerated() {
            text += String(format: "%4d %7d %7d", k + 1, fold.trainRows, fold.testRows)
            for s in summaries { text += String(format: " %10.4f", s.values[k]) }
            text += "\n"
        }
        text += "mean" + String(repeating: " ", count: 16) + summaries.map { String(format: " %10.4f", $0.mean) }.joined() + "\n"
        text +=
            "std " + String(repeating: " ", count: 16) + summaries.map { String(format: " %10.4f", $0.standardDeviation) }.joined() + "\n"
        return text
    }
}
