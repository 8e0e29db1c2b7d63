import ArgumentParser
import Cluster
import Forest
import Foundation
import Logging
import SpaceTime
import ZeroMQ

struct PredictCommand: AsyncParsableCommand {
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
    @Option(parsing: .unconditional, help: "Threads for scoring (per worker with --workers), 1...1024.") var threads = min(
        ProcessInfo.processInfo.activeProcessorCount, OptionRange.maxThreads)
    @Option(
        name: .customLong("batch-rows"), parsing: .unconditional,
        help: "Rows scored per batch in this process (bounds memory), 1...1048576.") var batchRows = 8192
    @Option(name: .customLong("memory-limit"), help: "The workers' memory limit (at least 16MiB); blocks are sized for it.")
    var memoryLimit = "512MiB"
    @Option(
        help:
            "With --workers/--bind: auto (from the model's size and --memory-limit), whole (every worker loads the model) or sharded (each worker loads one tree slice; rows go to every slice). Same output either way."
    ) var scoring: ScoringPlan.Choice = .auto
    @Option(parsing: .unconditional, help: "With --scoring sharded: slices of the forest, 2...4096 (default: as few as fit).") var slices:
        Int?
    @OptionGroup var pool: BlockJobFlags
    @OptionGroup var csv: CSVFormatFlags

    func validate() throws {
        try OptionRange.check(batchRows, 1...OptionRange.maxBatchRows, "--batch-rows")
        try OptionRange.check(threads, 1...OptionRange.maxThreads, "--threads")
        if let slices { try OptionRange.check(slices, 2...4096, "--slices") }
        try pool.check(memoryLimit: memoryLimit)
        try OutputPaths.refuseOverwrite(outputs: [("--out", out)], inputs: [("input", file), ("--model", model)])
        try probeWritable([("--out", out)])  // an unwritable --out fails now, not after the work
    }

    func run() async throws {
        if !pool.overWorkers {
            try predictHere()
        } else {
            try await predictOverWorkers()
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
            try StreamingPrediction.run(
                model: m, path: file, readTargets: false, batchRows: batchRows, threads: threads,
                options: try csv.options(),
                derivation: try RegisteredDerivations.derivation(for: m)
            ) { batch in
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
    func predictOverWorkers() async throws {
        let limit = try parseMemory(memoryLimit, "--memory-limit")
        let logger = Logger.standardError("coordinator")
        let (dir, temporary) = pool.jobDirectory("predict")
        defer { if temporary { try? FileManager.default.removeItem(atPath: dir) } }

        // Standard output is written here, checked (the job writes a file in its directory, then it is copied).
        let jobOut = out == "-" ? (dir as NSString).appendingPathComponent("predictions-stdout.csv") : out
        var options = PredictionJob.Options(work: .predictions(modelPath: model), dataPath: file, outPath: jobOut, jobDirectory: dir)
        options.proba = proba
        options.scoring = scoring
        options.slices = slices
        options.csv = try csv.options()
        options.derivations = RegisteredDerivations.registry
        try pool.configure(&options, limit: limit, logger: logger)

        let started = Date()
        let (job, workers) = try await pool.serve(options, limit: limit, threads: threads, what: "prediction", logger: logger)
        if out == "-" {
            try Output.copy(file: jobOut)
            try? FileManager.default.removeItem(atPath: jobOut)
        }
        let seconds = Date().timeIntervalSince(started)
        var report =
            "predicted \(job.rows) rows to \(out) in \(String(format: "%.2f", seconds)) s (\(Int(Double(job.rows) / max(seconds, 1e-9))) rows/s) over \(job.blocks.count) block(s)\n"
        for w in workers { report += w.summaryLine }
        writeStandardError(report)
    }
}
