import ArgumentParser
import Foundation
import SpaceTime

struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Per-column statistics of a CSV file in one streaming pass with bounded memory.",
        discussion: """
            Prints count, missing, mean, std (n-1), min, max and approximate 25/50/75% quantiles \
            (from a seeded sample of up to 10,000 rows) of every numeric column, and class counts of \
            the --label column. Empty fields and pandas' NA tokens (NaN, nan, NA, N/A, NULL, …) are \
            missing. A non-numeric value is an error naming its line and column (or, with \
            --skip-bad-rows, the row is skipped and counted).
            """
    )

    @Argument(help: "The CSV file (with a header row).")
    var file: String

    @Option(help: "A label column: class counts instead of numeric statistics.")
    var label: String?

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @OptionGroup var csv: CSVCommandOptions

    func run() throws {
        let started = Date()
        let stats = try CSVStatistics.compute(path: file, options: try csv.options(), labelColumn: label)
        let seconds = Date().timeIntervalSince(started)
        if json {
            try writeJSONReport(StatsReport(stats, seconds: seconds), to: nil)
        } else {
            try Output.print(StatsFormatter.table(stats))
        }
        csv.reportSkipped(stats.skippedRows, stats.skippedErrors)
        csv.reportResources(bytes: stats.bytes, seconds: seconds)
    }
}

/// CSV options shared by `stats`, `sort` and `sample`.
struct CSVCommandOptions: ParsableArguments {
    @OptionGroup var format: CSVFormatFlags

    @Flag(help: "Skip malformed rows (wrong field count, non-numeric value) instead of stopping; report the first 5.")
    var skipBadRows = false

    @Flag(help: "Print throughput and peak memory (VmHWM) to standard error.")
    var verbose = false

    func options() throws -> CSVOptions {
        var o = try format.options()
        if skipBadRows { o.badRows = .skip(report: 5) }
        return o
    }

    func reportSkipped(_ count: Int, _ errors: [CSVError]) {
        guard count > 0 else { return }
        var s = "skipped \(count) bad row\(count == 1 ? "" : "s")"
        s += errors.isEmpty ? "\n" : "; first \(errors.count):\n" + errors.map { "  \($0)" }.joined(separator: "\n") + "\n"
        writeStandardError(s)
    }

    func reportResources(bytes: Int, seconds: Double) {
        guard verbose else { return }
        let sample = MemorySample.current()
        let mbps = seconds > 0 ? Double(bytes) / 1e6 / seconds : 0
        let line = String(
            format: "read %.1f MB in %.2f s (%.1f MB/s); peak RSS %d KiB (VmHWM), RSS anon %d KiB\n",
            Double(bytes) / 1e6, seconds, mbps, sample.peakRSS / 1024, sample.rssAnon / 1024)
        writeStandardError(line)
    }
}

enum StatsFormatter {
    static func number(_ x: Double) -> String {
        if x.isNaN { return "NaN" }
        return String(format: "%.6g", x)
    }

    static func table(_ s: CSVStatistics) -> String {
        let head = ["column", "count", "missing", "mean", "std", "min", "25%", "50%", "75%", "max"]
        var rows: [[String]] = [head]
        for c in s.columns {
            let st = c.statistics
            rows.append([
                c.name, String(st.count), String(st.missing),
                number(st.count > 0 ? st.mean : .nan), number(st.standardDeviation),
                number(st.count > 0 ? st.min : .nan), number(c.quantile(0.25)), number(c.quantile(0.5)),
                number(c.quantile(0.75)), number(st.count > 0 ? st.max : .nan)
            ])
        }
        let widths = (0..<head.count).map { i in rows.map { $0[i].count }.max()! }
        var out = "\(s.file): \(s.rows) rows, \(s.columns.count + (s.label == nil ? 0 : 1)) columns\n"
        for r in rows {
            out +=
                r.enumerated().map { i, v in
                    let pad = String(repeating: " ", count: widths[i] - v.count)
                    return i == 0 ? v + pad : pad + v
                }.joined(separator: "  ") + "\n"
        }
        if let label = s.label {
            let total = max(1, s.classCounts.values.reduce(0, +))
            let classes = s.classCounts.sorted { $0.key < $1.key }.map { k, v in
                "\(k): \(v) (\(String(format: "%.1f", 100 * Double(v) / Double(total)))%)"
            }
            out += "label `\(label)`: \(s.classCounts.count) classes: " + classes.joined(separator: ", ") + "\n"
        }
        return String(out.dropLast())
    }
}
