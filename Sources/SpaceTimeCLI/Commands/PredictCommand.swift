import ArgumentParser
import Cluster
import Forest
import Foundation
import SpaceTime
import ZeroMQ

struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Predict a CSV file with a saved model (streaming, bounded memory, input order kept), in this process or over workers.",
        discussion: """
        Without --workers or --bind the prediction runs in this process. With --workers N this process \
        becomes a coordinator on tcp://127.0.0.1:* and starts N 'spacetime worker' processes (each in \
        its own memory cgroup with --memory-limit when cgroups are writable, else self-limited); with \
        --bind ENDPOINT (alias --connect: the endpoint workers connect to) workers started elsewhere \
        with 'spacetime worker --connect ENDPOINT' join. The input is indexed once and cut into blocks \
        of consecutive rows sized from the data and the workers' memory limit (never from the number \
        of workers); each block's records are streamed to a worker, its predictions streamed back and \
        kept as a part file in the job directory, and the parts are concatenated in input order: the \
        output is byte-identical to the single-process command's. A block whose worker dies is redone \
        on another worker (at most --max-attempts attempts).
        """
    )

    @Option(help: "Model file written by 'spacetime train'.") var model: String
    @Argument(help: "Input CSV; feature columns are matched by name, other columns ignored.") var file: String
    @Option(name: .shortAndLong, help: "Output CSV path, or - for standard output.") var out = "predictions.csv"
    @Flag(help: "Also write one probability column per class (p_<class>).") var proba = false
    @Option(parsing: .unconditional, help: "Threads for scoring (per worker with --workers), 1...1024.") var threads = min(ProcessInfo.processInfo.activeProcessorCount, OptionRange.maxThreads)
    @Option(name: .customLong("batch-rows"), parsing: .unconditional, help: "Rows scored per batch in this process (bounds memory), 1...1048576.") var batchRows = 8192
    @Option(parsing: .unconditional, help: "Start this many local worker processes (0...256; 0 needs --bind) and shard the prediction over them.") var workers: Int?
    @Option(name: [.customLong("bind"), .customLong("connect")],
            help: "Serve this endpoint (e.g. tcp://0.0.0.0:5555) for workers started with 'spacetime worker --connect'; --connect is an alias.")
    var bind: String?
    @Option(name: .customLong("memory-limit"), help: "The workers' memory limit (at least 16MiB); blocks are sized for it.") var memoryLimit = "512MiB"
    @Option(name: .customLong("block-rows"), parsing: .unconditional, help: "Rows per block, at least 1 (default: planned from the data and --memory-limit).") var blockRows: Int?
    @Option(help: "With --workers/--bind: auto (from the model's size and --memory-limit), whole (every worker loads the model) or sharded (each worker loads one tree slice; rows go to every slice). Same output either way.") var scoring = "auto"
    @Option(parsing: .unconditional, help: "With --scoring sharded: slices of the forest, 2...4096 (default: as few as fit).") var slices: Int?
    @Option(name: .customLong("job-dir"), help: "Job directory (store and parts; default: a temporary directory removed at the end).") var jobDir: String?
    @Option(name: .customLong("spill-dir"), help: "Parent directory for the local workers' spill files.") var spillDir: String?
    @Option(name: .customLong("wait-workers"), parsing: .unconditional, help: "With --bind: wait for this many workers, 0...256 (at most 10 s), before the first assignments.") var waitWorkers = 1
    @Option(name: .customLong("curve-secret"), help: "With --bind: this coordinator's CURVE secret key file (from 'spacetime keygen').") var curveSecret: String?
    @Option(name: .customLong("allow-workers"), help: "With --bind: worker public keys admitted (a directory of *.public files or a file).") var allowWorkers: String?
    @Flag(help: "Allow a non-loopback --bind without CURVE (traffic in clear, any peer may join).") var insecure = false
    @OptionGroup var liveness: LivenessFlags
    @OptionGroup var csv: CSVFormatFlags

    func validate() throws {
        try OptionRange.check(batchRows, 1...OptionRange.maxBatchRows, "--batch-rows")
        try OptionRange.check(threads, 1...OptionRange.maxThreads, "--threads")
        if let workers {
            try OptionRange.check(workers, 0...OptionRange.maxWorkers, "--workers")
            if workers == 0 && bind == nil { throw ValidationError("--workers 0 needs --bind for remote workers") }
        }
        if let blockRows { try OptionRange.atLeast(blockRows, 1, "--block-rows") }
        guard ScoringPlan.Choice(rawValue: scoring) != nil else {
            throw ValidationError("--scoring must be auto, whole or sharded, not '\(scoring)'")
        }
        if let slices { try OptionRange.check(slices, 2...4096, "--slices") }
        try OptionRange.check(waitWorkers, 0...OptionRange.maxWorkers, "--wait-workers")
        if workers != nil || bind != nil { try OptionRange.workerMemory(memoryLimit, "--memory-limit") }
        try OutputPaths.refuseOverwrite(outputs: [("--out", out)], inputs: [("input", file), ("--model", model)])
        try probeWritable([("--out", out)])  // an unwritable --out fails now, not after the work
    }

    func run() throws {
        if workers == nil && bind == nil {
            try predictHere()
        } else {
            try predictOverWorkers()
        }
    }

    /// Single process: stream, score in batches, write in input order.
    func predictHere() throws {
        let m = try ForestModel.load(from: model)
        let classes = m.extractor.classes
        let format = PredictionFormat(model: m, proba: proba)
        let writer: AtomicFileWriter? = out == "-" ? nil : try AtomicFileWriter(path: out)
        func emit(_ bytes: [UInt8]) throws {
            if let writer { try writer.append(bytes) } else { try Output.write(bytes) }
        }
        var rows = 0
        do {
            try emit(format.header(classes: classes))
            var buffer: [UInt8] = []
            try StreamingPrediction.run(model: m, path: file, readTargets: false, batchRows: batchRows, threads: threads,
                                        options: try csv.options(),
                                        derivation: try RegisteredDerivations.derivation(for: m)) { batch in
                buffer.removeAll(keepingCapacity: true)
                batch.predictions.withUnsafeBufferPointer { format.appendRows($0, rows: batch.rows, to: &buffer) }
                try emit(buffer)
                rows += batch.rows
            }
            try writer?.commit()
        } catch {
            writer?.abort()
            throw error
        }
        if writer != nil { writeStandardError("predicted \(rows) rows to \(out)\n") }
    }

    /// A coordinator sharding the input over local (--workers) and/or remote (--bind) workers.
    func predictOverWorkers() throws {
        let localWorkers = workers ?? 0
        let limit = try parseMemory(memoryLimit, "--memory-limit")
        let log = logLine("coordinator")
        let endpoint = bind ?? "tcp://127.0.0.1:*"
        let temporary = jobDir == nil
        let dir = jobDir ?? (NSTemporaryDirectory() as NSString)
            .appendingPathComponent("spacetime-predict-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))")
        defer { if temporary { try? FileManager.default.removeItem(atPath: dir) } }

        // Standard output is written here, checked (the job writes a file in its directory, then it is copied).
        let jobOut = out == "-" ? (dir as NSString).appendingPathComponent("predictions-stdout.csv") : out
        var options = PredictionJob.Options(modelPath: model, dataPath: file, outPath: jobOut, bind: endpoint, jobDirectory: dir)
        options.proba = proba
        options.workerMemoryLimit = UInt64(limit.bytes)
        options.blockRows = blockRows
        options.scoring = ScoringPlan.Choice(rawValue: scoring) ?? .auto
        options.slices = slices
        options.csv = try csv.options()
        options.derivations = RegisteredDerivations.registry
        options.engine.startupWorkers = max(1, localWorkers + (bind != nil ? max(0, waitWorkers - localWorkers) : 0))
        try liveness.apply(to: &options.engine)
        options.maxAttempts = liveness.maxAttempts
        options.curve = try coordinatorCurve(bind: endpoint, curveSecret: curveSecret, allowWorkers: allowWorkers, insecure: insecure, log: log)
        if localWorkers >= 1 && options.curve != nil {
            throw ValidationError("--workers starts local workers without keys: use them with a loopback --bind, or start CURVE workers yourself")
        }

        let started = Date()
        let job = try PredictionJob(options: options, context: try Context(), log: log)
        log(.info, "job directory \(dir); coordinator on \(job.endpoint)")
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let cluster = LocalCluster(executable: executable, memoryLimit: limit)
        if localWorkers >= 1 {
            for i in 1...localWorkers {
                let note = try cluster.startWorker(id: "w\(i)", endpoint: job.endpoint, threads: threads, spillDir: spillDir) { id, signal, status in
                    let peak = cluster.workers.first { $0.id == id }?.cgroupPeak.map { UInt64(max(0, $0)) }
                    job.workerProcessEnded(workerID: id, signal: signal, status: status, peakMemory: peak)
                    if bind == nil { cluster.failJobIfEveryWorkerExited(expected: localWorkers, store: job.store, log: log) }
                }
                log(.info, "started worker w\(i) (pid \(cluster.workers.last?.pid ?? 0)) \(note)")
            }
        }
        let stoppers = [SIGINT, SIGTERM].map { sig in
            let stopper = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            signal(sig, SIG_IGN)
            stopper.setEventHandler {
                log(.warning, "\(sig == SIGINT ? "SIGINT" : "SIGTERM"): stopping the prediction")
                cluster.stopAll(grace: 2)  // first: workers ending now must not fail the job
                if temporary { try? FileManager.default.removeItem(atPath: dir) }
                Foundation.exit(128 + sig)
            }
            stopper.resume()
            return stopper
        }
        defer { stoppers.forEach { $0.cancel() } }
        let outcome = try job.wait()
        cluster.finish()
        switch outcome {
        case .done:
            if out == "-" {
                try Output.copy(file: jobOut)
                try? FileManager.default.removeItem(atPath: jobOut)
            }
            let seconds = Date().timeIntervalSince(started)
            var report = "predicted \(job.rows) rows to \(out) in \(String(format: "%.2f", seconds)) s (\(Int(Double(job.rows) / max(seconds, 1e-9))) rows/s) over \(job.blocks.count) block(s)\n"
            for w in cluster.workers {
                report += "  worker \(w.id) pid \(w.pid): \(w.exit ?? "running")" + (w.cgroupPeak.map { ", cgroup peak \(ByteCount(UInt64($0)))" } ?? "") + "\n"
            }
            writeStandardError(report)
        case .failed(let message):
            throw PipelineError(.jobFailed, "prediction failed: \(message)")
        }
    }
}
