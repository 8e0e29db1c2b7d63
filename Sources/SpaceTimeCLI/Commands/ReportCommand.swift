import ArgumentParser
import Cluster
import Forest
import Foundation
import SpaceTime

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write a job's or a model's report: one self-contained HTML page with plots (no network needed to view it).",
        discussion: """
            From a job directory: summary, stage table with each worker's peak memory against its limit, \
            a timeline of every task attempt per worker (failed and lost attempts marked, reruns linked to \
            the checkpoint they resumed from), memory over time per worker, model quality (ROC, \
            precision-recall, confusion matrix, per-class table, calibration; or predicted versus actual \
            and residuals) and feature importances. Works on a running job too: the page then says so \
            and refreshes itself every \(JobReport.refreshSeconds) s. From a model file: summary, model \
            quality and importances.
            """
    )

    @Argument(help: "A job directory (--job-dir of coordinator or local) or a model file.") var source: String
    @Option(help: "The HTML file to write (never an input).") var out = "report.html"
    @Option(help: "Also write the report's data as JSON here.") var json: String?

    func validate() throws {
        try OutputPaths.refuseOverwrite(outputs: [("--out", out), ("--json", json)], inputs: [("report source", storePath ?? source)])
        try probeWritable([("--out", out), ("--json", json)])
    }

    /// The job store when `source` is a job directory.
    var storePath: String? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory), isDirectory.boolValue else { return nil }
        return (source as NSString).appendingPathComponent("job.sqlite")
    }

    func run() throws {
        let now = Date().timeIntervalSince1970
        let report: JobReport
        if let path = storePath {
            guard FileManager.default.fileExists(atPath: path) else {
                throw ValidationError("\(source): no job store (job.sqlite) in this directory")
            }
            report = try JobReport.load(store: try JobStore(readOnlyPath: path), now: now)
        } else {
            report = JobReport(model: try ForestModel.load(from: source), modelPath: source, now: now)
        }
        let bytes = try writeHTMLReport(report, to: out, flag: "--out")
        if let json { try writeReport(try report.json() + "\n", to: json, flag: "--json") }
        try Output.print("report of \(source) (\(report.state.rawValue)) written to \(out) (\(ByteCount(UInt64(bytes))))")
    }
}

/// Renders `report` and writes it atomically; returns the page's size in bytes.
@discardableResult
func writeHTMLReport(_ report: JobReport, to path: String, flag: String = "--report-html") throws -> Int {
    let page = ReportHTML.render(report)
    try writeReport(page, to: path, flag: flag)
    return page.utf8.count
}

/// The report of the job in `store` at its end, with how `workers` (local processes) exited.
func writeJobHTMLReport(store: JobStore, workers: [LocalCluster.WorkerSlot], to path: String) throws {
    var options = JobReport.Options()
    for w in workers { if let exit = w.exit { options.workerExits[w.id] = exit } }
    try writeHTMLReport(try JobReport.load(store: store, now: Date().timeIntervalSince1970, options: options), to: path)
}

/// `--permutation-importance` and its repeats, shared by `train` and `evaluate`.
struct PermutationFlags: ParsableArguments {
    @Flag(
        name: .customLong("permutation-importance"),
        help: "Also compute permutation importance on the test rows (each feature shuffled in turn; the drop of accuracy or R²).")
    var enabled = false
    @Option(
        name: .customLong("permutation-repeats"), parsing: .unconditional,
        help: "Shuffles per feature for --permutation-importance, 1...100.")
    var repeats = 1

    func validate() throws { try OptionRange.check(repeats, 1...100, "--permutation-repeats") }

    /// Repeats to compute (0 when not asked for).
    var count: Int { enabled ? repeats : 0 }
}

extension PermutationImportance {
    /// A text table of the `top` most important features.
    func textReport(features: [String], top: Int = 15) -> String {
        let values = importances
        let ranked = values.indices.sorted {
            (values[$0].isNaN ? -.infinity : values[$0], -$0) > (values[$1].isNaN ? -.infinity : values[$1], -$1)
        }
        var out =
            "permutation importance (drop of \(task == .classification ? "accuracy" : "R²") on \(rowCount) rows, \(repeats) shuffle(s)):\n"
        for f in ranked.prefix(top) {
            out +=
                "  \(features[f].padding(toLength: max(20, features[f].count), withPad: " ", startingAt: 0)) \(String(format: "%+.4f", values[f]))\n"
        }
        return out
    }
}
