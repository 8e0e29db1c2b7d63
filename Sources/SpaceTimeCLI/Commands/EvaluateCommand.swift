import ArgumentParser
import Forest
import Foundation

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Evaluate a saved model on a labelled CSV file: accuracy, AUC, log loss, per-class table, confusion matrix."
    )

    @Option(help: "Model file written by 'spacetime train'.") var model: String
    @Argument(help: "Labelled CSV (must contain the model's label column).") var file: String
    @Flag(help: "Print JSON (accuracy, auc, log_loss, confusion_matrix, per_class, ...).") var json = false
    @Option(parsing: .unconditional, help: "Threads for scoring, 1...1024.") var threads = min(
        ProcessInfo.processInfo.activeProcessorCount, OptionRange.maxThreads)
    @OptionGroup var permutation: PermutationFlags
    @OptionGroup var csv: CSVFormatFlags

    func validate() throws {
        try OptionRange.check(threads, 1...OptionRange.maxThreads, "--threads")
    }

    func run() throws {
        let m = try ForestModel.load(from: model)
        let (metrics, importance) = try StreamingPrediction.evaluate(
            model: m, path: file, threads: threads,
            permutationRepeats: permutation.count, options: try csv.options(),
            derivation: try RegisteredDerivations.derivation(for: m))
        if json {
            let report = EvaluationReport(
                metrics: MetricsReport(metrics, classes: m.extractor.classes), fingerprint: m.fingerprintHex,
                permutationImportance: importance.map { PermutationImportanceReport($0, features: m.extractor.featureNames) })
            try writeJSONReport(report, to: nil)
        } else {
            try Output.print(
                metrics.textReport(classes: m.extractor.classes) + (importance?.textReport(features: m.extractor.featureNames) ?? ""),
                terminator: "")
        }
    }
}
