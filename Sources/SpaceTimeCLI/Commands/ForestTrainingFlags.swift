import ArgumentParser
import Forest
import Foundation
import SpaceTime

/// The training flags shared by `train`, `coordinator` and `local`: the same names and
/// defaults everywhere, so a distributed run with the same flags and `--partitions` gives
/// the same model fingerprint as `spacetime train`.
struct ForestTrainingFlags: ParsableArguments {
    @Option(name: .customLong("model-out"), help: "Where to write the model (never an input file).") var modelOut = "model.stm"
    @OptionGroup var columns: ColumnFlags
    @Option(name: .customLong("test-fraction"), parsing: .unconditional, help: "Share of each class held out for testing, in [0, 1).")
    var testFraction = 0.2
    @Option(
        name: .customLong("test-file"),
        help: "Held-out test rows from this file (same header as the training file) instead of --test-fraction.")
    var testFile: String?
    @OptionGroup var forest: ForestParameterFlags
    /// `nil`: `train` grows one partition; `coordinator` and `local` plan the count.
    @Option(
        parsing: .unconditional,
        help:
            "Partitions, 1...65536: one sub-forest grown per stratified partition, then merged (default: 1 for train; for coordinator and local, planned from the data size and the workers' memory limit, never from the number of workers)."
    )
    var partitions: Int?
    @Option(name: .customLong("max-bins"), parsing: .unconditional, help: "Value bins per feature (2...255).") var maxBins = 255
    @Option(name: .customLong("report-json"), help: "Write a JSON report (metrics, fingerprint, timings) here.") var reportJSON: String?
    @Option(
        name: .customLong("report-html"),
        help:
            "Write an HTML report (summary, phases, model quality, importances) here at the end; for coordinator and local the job's report, as 'spacetime report JOB-DIR' writes it."
    )
    var reportHTML: String?
    @OptionGroup var permutation: PermutationFlags

    func validate() throws {
        try OptionRange.check(maxBins, 2...255, "--max-bins")
        guard (0..<1).contains(testFraction) else { throw ValidationError("--test-fraction must be in [0, 1), got \(testFraction)") }
        if let partitions { try OptionRange.check(partitions, 1...65_536, "--partitions") }
    }

    func forestParameters() throws -> ForestParameters {
        try validate()
        return try forest.parameters()
    }

    /// Refuses outputs that are inputs, and outputs that cannot be created, before the job starts.
    func checkOutputs(dataFile: String, splitOut: String? = nil) throws {
        var outputs: [(String, String?)] = [("--model-out", modelOut), ("--report-json", reportJSON), ("--report-html", reportHTML)]
        if let splitOut {
            outputs.append(("--split-out", (splitOut as NSString).appendingPathComponent("train.csv")))
            outputs.append(("--split-out", (splitOut as NSString).appendingPathComponent("test.csv")))
        }
        try OutputPaths.refuseOverwrite(outputs: outputs, inputs: [("training file", dataFile), ("--test-file", testFile)])
        try probeWritable([("--model-out", modelOut), ("--report-json", reportJSON), ("--report-html", reportHTML)])
    }
}
