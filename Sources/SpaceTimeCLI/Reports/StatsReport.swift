import Forest
import SpaceTime

/// `spacetime stats --json`: the file, its size, every column's statistics (`null` where a
/// statistic is undefined, e.g. the mean of a column without numbers) and the label's class counts.
struct StatsReport: Encodable {
    struct Column: Encodable {
        var name: String
        var count: Int
        var missing: Int
        @NullWhenAbsent var mean: Double?
        /// Sample standard deviation (n - 1).
        @NullWhenAbsent var std: Double?
        @NullWhenAbsent var min: Double?
        @NullWhenAbsent var p25: Double?
        @NullWhenAbsent var p50: Double?
        @NullWhenAbsent var p75: Double?
        @NullWhenAbsent var max: Double?
    }

    struct Label: Encodable {
        var column: String
        /// Rows per class value.
        var classes: [String: Int]
    }

    var file: String
    var rows: Int
    var bytes: Int
    /// Wall-clock seconds of the pass.
    var seconds: Double
    var columns: [Column]
    var label: Label?
    var skippedRows: Int
    /// The located errors of skipped rows (`--skip-bad-rows`); absent when none was skipped.
    var skippedErrors: [String]?

    init(_ s: CSVStatistics, seconds: Double) {
        file = s.file
        rows = s.rows
        bytes = s.bytes
        self.seconds = seconds
        columns = s.columns.map { c in
            let st = c.statistics
            let some = st.count > 0
            return Column(
                name: c.name, count: st.count, missing: st.missing,
                mean: some ? ReportJSON.finite(st.mean) : nil, std: ReportJSON.finite(st.standardDeviation),
                min: some ? ReportJSON.finite(st.min) : nil, p25: ReportJSON.finite(c.quantile(0.25)),
                p50: ReportJSON.finite(c.quantile(0.5)), p75: ReportJSON.finite(c.quantile(0.75)),
                max: some ? ReportJSON.finite(st.max) : nil)
        }
        label = s.label.map { Label(column: $0, classes: s.classCounts) }
        skippedRows = s.skippedRows
        skippedErrors = s.skippedErrors.isEmpty ? nil : s.skippedErrors.map(\.description)
    }
}
