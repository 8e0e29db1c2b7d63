import ArgumentParser
import Cluster
import Forest
import Foundation
import Logging
import SpaceTime

struct TransformCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transform",
        abstract: "Write a CSV's features (and labels) as NumPy .npy shards for PyTorch, TensorFlow and other tools.",
        discussion: """
            Streams FILE through a fitted feature extractor — a model's (--model) or one fitted on FILE \
            itself (--fit: one statistics pass first, same column flags as 'train') — into OUT-DIR: \
            features-NNNNN.npy per --shard-rows rows (float32, rows × features, row-major: numbers as \
            parsed, categorical columns as level codes, missing as NaN; with --binned the forest's uint8 \
            bins, column-major, 255 = missing), labels-NNNNN.npy beside them when FILE has the label \
            column (int64 class index, or float64 target), and manifest.json (columns, kinds, levels, \
            bin edges, classes, shard files and row counts, in input order). Memory is one shard's \
            buffers; it must fit in --memory-limit. With --workers N (or --bind for workers that join) \
            the input is cut into blocks as 'predict --workers' cuts it; each block's records go to a \
            worker, which parses them and sends the parsed rows back, and this process writes the \
            shards in input order (no shared filesystem): the same files as in one process. \
            docs/integrations.md shows a PyTorch Dataset and a tf.data pipeline over the shards.
            """
    )

    @Argument(help: "Input CSV; feature columns are matched by name, other columns ignored.") var file: String
    @Option(help: "Use this model's extractor (written by 'spacetime train').") var model: String?
    @Flag(help: "Fit the extractor on FILE itself (instead of --model).") var fit = false
    @OptionGroup var columns: ColumnFlags
    @OptionGroup var csv: CSVFormatFlags
    @OptionGroup var derivation: DerivationFlag
    @Option(name: .customLong("max-bins"), parsing: .unconditional, help: "With --fit: value bins per feature (2...255).") var maxBins = 255
    @Option(
        name: [.customShort("o"), .customLong("out-dir")],
        help:
            "Output directory (created; shards and manifest.json; an earlier run's shards and manifest there are removed first, other files stay)."
    ) var outDir = "transform-out"
    @Option(name: .customLong("shard-rows"), parsing: .unconditional, help: "Rows per shard, 1...16777216.") var shardRows = 65_536
    @Flag(help: "Write the forest's uint8 bins instead of float32 values.") var binned = false
    @Option(
        name: .customLong("memory-limit"),
        help: "Memory the shard buffers may use (at least 16MiB); with --workers/--bind also the workers' limit.") var memoryLimit =
        "512MiB"
    @Option(parsing: .unconditional, help: "With --workers/--bind: threads per worker, 1...1024.") var threads = 1
    @OptionGroup var pool: BlockJobFlags

    func validate() throws {
        guard (model == nil) != !fit else { throw ValidationError("give either --model MODEL or --fit") }
        if model != nil && derivation.derivation != nil {
            throw ValidationError("--derivation goes with --fit; with --model the model's own derivation is applied")
        }
        try OptionRange.check(shardRows, 1...(1 << 24), "--shard-rows")
        try OptionRange.check(maxBins, 2...255, "--max-bins")
        try OptionRange.workerMemory(memoryLimit, "--memory-limit")
        try OptionRange.check(threads, 1...OptionRange.maxThreads, "--threads")
        try pool.check(memoryLimit: memoryLimit)
        try OutputPaths.refuseOverwrite(outputs: [("--out-dir", outDir)], inputs: [("input", file), ("--model", model)])
    }

    func run() async throws {
        let transform: DatasetTransform
        if let model {
            let m = try ForestModel.load(from: model)
            transform = try DatasetTransform(model: m, derivation: try RegisteredDerivations.derivation(for: m))
        } else {
            transform = try DatasetTransform.fit(
                path: file, columns: columns.choices, maxBins: maxBins, csv: try csv.options(),
                derivationFactory: derivation.factory)
            writeStandardError(
                "fitted on \(file): \(transform.schema.featureCount) features (\(transform.schema.categoricalCount) categorical), \(transform.schema.task.rawValue)\n"
            )
        }
        var options = DatasetTransform.Options()
        options.shardRows = shardRows
        options.binned = binned
        options.csv = try csv.options()
        let limit = try parseMemory(memoryLimit, "--memory-limit")
        let need = DatasetTransform.bufferBytes(features: transform.extractor.featureCount, options: options)
        guard need <= limit.bytes / 2 else {
            throw ValidationError(
                "--shard-rows \(shardRows) needs \(ByteCount(need)) of buffers for \(transform.extractor.featureCount) features, more than half of --memory-limit \(memoryLimit); use fewer --shard-rows"
            )
        }
        let started = Date()
        guard pool.overWorkers else {
            let manifest = try transform.run(path: file, directory: outDir, options: options)
            writeStandardError(
                "wrote \(manifest.rows) rows in \(manifest.shards.count) shard(s) (\(manifest.dtype)) to \(outDir) in \(String(format: "%.2f", Date().timeIntervalSince(started))) s\n"
            )
            return
        }
        let logger = Logger.standardError("coordinator")
        let (dir, temporary) = pool.jobDirectory("transform")
        defer { if temporary { try? FileManager.default.removeItem(atPath: dir) } }
        var job = PredictionJob.Options(work: .transform(transform, options), dataPath: file, outPath: outDir, jobDirectory: dir)
        job.csv = options.csv
        try pool.configure(&job, limit: limit, logger: logger)
        let (done, workers) = try await pool.serve(job, limit: limit, threads: threads, what: "transform", logger: logger)
        var report =
            "wrote \(done.rows) rows to \(outDir) in \(String(format: "%.2f", Date().timeIntervalSince(started))) s over \(done.blocks.count) block(s)\n"
        for w in workers { report += w.summaryLine }
        writeStandardError(report)
    }
}
