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
    @OptionGroup var training: ForestTrainingFlags
    @Option(parsing: .unconditional, help: "Threads for tree growing, 1...1024 (default: all cores).") var threads = min(
        ProcessInfo.processInfo.activeProcessorCount, OptionRange.maxThreads)
    @Flag(help: "Also compute the out-of-bag score.") var oob = false
    @OptionGroup var derivation: DerivationFlag
    @OptionGroup var csv: CSVFormatFlags
    @Option(
        name: .customLong("memory-limit"),
        help:
            "Memory the model must be scorable in, e.g. 512MiB: without --max-depth or --min-samples-leaf, trees are capped in depth when the forest is expected not to fit; with them, a warning (default: no limit)."
    ) var memoryLimit: String?

    /// `--partitions`, 1 when not given.
    var partitions: Int { training.partitions ?? 1 }
    var modelOut: String { training.modelOut }

    func validate() throws {
        _ = try training.forestParameters()
        try OptionRange.check(threads, 1...OptionRange.maxThreads, "--threads")
        if let memoryLimit { _ = try parseMemory(memoryLimit, "--memory-limit") }
        try training.checkOutputs(dataFile: file)
    }

    func run() throws {
        let p = try training.forestParameters()
        var options = TrainingOptions(trainFile: file)
        options.testFile = training.testFile
        options.columns = training.columns.choices
        options.testFraction = training.testFraction
        options.partitions = partitions
        options.threads = threads
        options.parameters = p
        options.outOfBag = oob
        options.maxBins = training.maxBins
        options.csv = try csv.options()
        options.permutationRepeats = training.permutation.count
        if let memoryLimit { options.scoringMemoryLimit = UInt64(try parseMemory(memoryLimit, "--memory-limit").bytes) }
        options.treeSizeGiven = training.forest.treeSizeGiven

        let started = Date()
        let result = try SingleProcessTraining.run(
            options,
            derivationFactory: derivation.factory,
            provenance: [
                "created": ISO8601DateFormatter().string(from: started),
                "host": ProcessInfo.processInfo.hostName,
                "tool": "spacetime \(SpaceTimeVersion.string) train"
            ],
            log: { writeStandardError("\($0)\n") })
        let model = result.model
        try model.save(to: modelOut)
        let elapsed = Date().timeIntervalSince(started)

        let classes = model.extractor.classes
        var text =
            "trained \(model.forest.trees.count) trees on \(result.trainRows) rows (\(partitions) partition(s), \(threads) thread(s)) in \(String(format: "%.2f", elapsed)) s\n"
        text +=
            "phases (wall / CPU s): "
            + zip(result.phaseSeconds, result.phaseCPUSeconds).map {
                "\($0.0.0) \(String(format: "%.2f", $0.0.1)) / \(String(format: "%.2f", $0.1.1))"
            }.joined(separator: ", ") + "\n"
        if let m = model.testMetrics { text += "test: " + m.textReport(classes: classes) }
        if let m = model.outOfBagMetrics { text += "out-of-bag: " + m.textReport(classes: classes).prefix { $0 != "\n" } + "\n" }
        if let p = result.permutationImportance { text += p.textReport(features: model.extractor.featureNames) }
        text += "model \(modelOut) fingerprint \(model.fingerprintHex)\n"
        try Output.print(text, terminator: "")

        if let reportJSON = training.reportJSON {
            let schema = model.schema
            let report = TrainReport(
                testMetrics: InlineMetrics(
                    metrics: model.testMetrics.map { MetricsReport($0, classes: classes) },
                    classes: classes, task: model.forest.task),
                taskReason: result.taskReason,
                categoricalFeatures: schema.featureNames.indices.filter { schema.featureKinds[$0] == .categorical }.map {
                    schema.featureNames[$0]
                },
                fingerprint: model.fingerprintHex, model: modelOut,
                trainRows: result.trainRows, testRows: result.testRows,
                partitions: partitions, partitionRows: result.partitionRows, threads: threads, trees: model.forest.trees.count,
                seconds: Dictionary(uniqueKeysWithValues: result.phaseSeconds).merging(["total": elapsed]) { a, _ in a },
                cpuSeconds: Dictionary(uniqueKeysWithValues: result.phaseCPUSeconds).merging(["total": processCPUSeconds()]) { a, _ in a },
                parameters: ForestParametersReport(model.parameters, task: schema.task),
                oob: model.outOfBagMetrics.map { MetricsReport($0, classes: classes) },
                oobAccuracy: model.outOfBagMetrics?.classification?.accuracy,
                permutationImportance: result.permutationImportance.map {
                    PermutationImportanceReport($0, features: model.extractor.featureNames)
                })
            try writeJSONReport(report, to: reportJSON)
        }
        if let reportHTML = training.reportHTML {
            var options = JobReport.Options()
            options.permutation = result.permutationImportance.map { ($0, "the test rows, computed by spacetime train in this process") }
            var report = JobReport(model: model, modelPath: modelOut, now: Date().timeIntervalSince1970, options: options)
            report.title = "SpaceTime train \((file as NSString).lastPathComponent)"
            report.setPhases(
                result.phaseSeconds, rows: result.trainRows + result.testRows,
                processPeak: UInt64(max(0, MemorySample.current().peakRSS)))
            try writeHTMLReport(report, to: reportHTML)
        }
    }
}
