import ArgumentParser
import Cluster
import Forest
import Foundation
import SpaceTime

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a random forest on a CSV file in one process and save the model.",
        discussion: """
        Streams FILE once, assigns rows to train/test and to partitions with the stratified \
        seeded-hash assigner, fits the feature extractor from per-partition statistics, grows \
        each partition's share of the trees and merges them, exactly as the distributed run does.
        """
    )

    @Argument(help: "Training data (CSV with a header row).") var file: String
    @Option(name: .customLong("model-out"), help: "Where to write the model (never an input file).") var modelOut = "model.stm"
    @OptionGroup var columns: ColumnFlags
    @Option(name: .customLong("test-fraction"), parsing: .unconditional, help: "Share of each class held out for testing, in [0, 1).") var testFraction = 0.2
    @Option(name: .customLong("test-file"), help: "Held-out test rows from this file instead of --test-fraction.") var testFile: String?
    @OptionGroup var forest: ForestParameterFlags
    @Option(parsing: .unconditional, help: "Partitions, 1...65536: train one sub-forest per stratified partition and merge.") var partitions = 1
    @Option(parsing: .unconditional, help: "Threads for tree growing, 1...1024 (default: all cores).") var threads = min(ProcessInfo.processInfo.activeProcessorCount, OptionRange.maxThreads)
    @Option(name: .customLong("max-bins"), parsing: .unconditional, help: "Value bins per feature (2...255).") var maxBins = 255
    @Flag(help: "Also compute the out-of-bag score.") var oob = false
    @Option(name: .customLong("report-json"), help: "Write a JSON report (metrics, fingerprint, timings) here.") var reportJSON: String?
    @Option(name: .customLong("report-html"), help: "Write an HTML report (summary, phases, model quality, importances) here.") var reportHTML: String?
    @OptionGroup var permutation: PermutationFlags
    @OptionGroup var derivation: DerivationFlag
    @OptionGroup var csv: CSVFormatFlags
    @Option(name: .customLong("memory-limit"), help: "Memory the model must be scorable in, e.g. 512MiB: without --max-depth or --min-samples-leaf, trees are capped in depth when the forest is expected not to fit; with them, a warning (default: no limit).") var memoryLimit: String?

    func validate() throws {
        _ = try forest.parameters()
        try OptionRange.check(threads, 1...OptionRange.maxThreads, "--threads")
        try OptionRange.check(partitions, 1...65_536, "--partitions")
        try OptionRange.check(maxBins, 2...255, "--max-bins")
        if let memoryLimit { _ = try parseMemory(memoryLimit, "--memory-limit") }
        guard (0..<1).contains(testFraction) else { throw ValidationError("--test-fraction must be in [0, 1), got \(testFraction)") }
        try OutputPaths.refuseOverwrite(outputs: [("--model-out", modelOut), ("--report-json", reportJSON), ("--report-html", reportHTML)],
                                        inputs: [("training file", file), ("--test-file", testFile)])
        try probeWritable([("--model-out", modelOut), ("--report-json", reportJSON), ("--report-html", reportHTML)])
    }

    func run() throws {
        let p = try forest.parameters()
        var options = TrainingOptions(trainFile: file)
        options.testFile = testFile; options.columns = columns.choices; options.testFraction = testFraction
        options.partitions = partitions; options.threads = threads; options.parameters = p
        options.outOfBag = oob; options.maxBins = maxBins
        options.csv = try csv.options()
        options.permutationRepeats = permutation.count
        if let memoryLimit { options.scoringMemoryLimit = UInt64(try parseMemory(memoryLimit, "--memory-limit").bytes) }
        options.treeSizeGiven = forest.treeSizeGiven

        let started = Date()
        let result = try SingleProcessTraining.run(
            options,
            derivationFactory: derivation.factory,
            provenance: ["created": ISO8601DateFormatter().string(from: started),
                         "host": ProcessInfo.processInfo.hostName,
                         "tool": "spacetime \(SpaceTimeVersion.string) train"],
            log: { writeStandardError("\($0)\n") })
        let model = result.model
        try model.save(to: modelOut)
        let elapsed = Date().timeIntervalSince(started)

        let classes = model.extractor.classes
        var text = "trained \(model.forest.trees.count) trees on \(result.trainRows) rows (\(partitions) partition(s), \(threads) thread(s)) in \(String(format: "%.2f", elapsed)) s\n"
        text += "phases (wall / CPU s): " + zip(result.phaseSeconds, result.phaseCPUSeconds).map {
            "\($0.0.0) \(String(format: "%.2f", $0.0.1)) / \(String(format: "%.2f", $0.1.1))"
        }.joined(separator: ", ") + "\n"
        if let m = model.testMetrics { text += "test: " + m.textReport(classes: classes) }
        if let m = model.outOfBagMetrics { text += "out-of-bag: " + m.textReport(classes: classes).prefix { $0 != "\n" } + "\n" }
        if let p = result.permutationImportance { text += p.textReport(features: model.extractor.featureNames) }
        text += "model \(modelOut) fingerprint \(model.fingerprintHex)\n"
        try Output.print(text, terminator: "")

        if let reportJSON {
            var report: [String: Any] = model.testMetrics?.jsonObject(classes: classes) ?? ["classes": classes]
            report["task"] = model.forest.task.rawValue
            report["task_reason"] = result.taskReason
            report["categorical_features"] = model.schema.featureNames.indices.filter { model.schema.featureKinds[$0] == .categorical }.map { model.schema.featureNames[$0] }
            report["fingerprint"] = model.fingerprintHex
            report["model"] = modelOut
            report["train_rows"] = result.trainRows
            report["test_rows"] = result.testRows
            report["partitions"] = partitions
            report["partition_rows"] = result.partitionRows
            report["threads"] = threads
            report["trees"] = model.forest.trees.count
            report["seconds"] = Dictionary(uniqueKeysWithValues: result.phaseSeconds).merging(["total": elapsed]) { a, _ in a }
            report["cpu_seconds"] = Dictionary(uniqueKeysWithValues: result.phaseCPUSeconds).merging(["total": processCPUSeconds()]) { a, _ in a }
            report["parameters"] = model.parameters.jsonObject(task: model.schema.task)
            if let m = model.outOfBagMetrics {
                report["oob"] = m.jsonObject(classes: classes)
                if let c = m.classification { report["oob_accuracy"] = c.accuracy }
            }
            if let p = result.permutationImportance { report["permutation_importance"] = p.jsonObject(features: model.extractor.featureNames) }
            try writeReport(try encodeJSON(report) + "\n", to: reportJSON)
        }
        if let reportHTML {
            var options = JobReport.Options()
            options.permutation = result.permutationImportance.map { ($0, "the test rows, computed by spacetime train in this process") }
            var report = JobReport(model: model, modelPath: modelOut, now: Date().timeIntervalSince1970, options: options)
            report.title = "SpaceTime train \((file as NSString).lastPathComponent)"
            report.setPhases(result.phaseSeconds, rows: result.trainRows + result.testRows,
                             processPeak: UInt64(max(0, MemorySample.current().peakRSS)))
            try writeHTMLReport(report, to: reportHTML)
        }
    }
}
