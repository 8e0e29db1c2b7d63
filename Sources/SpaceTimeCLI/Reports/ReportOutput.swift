import Forest

/// Writes `report` as JSON (``ReportJSON``) with a final newline: atomically to the file at
/// `path` (a failure names `flag`), or to standard output when `path` is nil.
func writeJSONReport(_ report: some Encodable, to path: String?, flag: String = "--report-json") throws {
    let text = try ReportJSON.encode(report)
    if let path { try writeReport(text + "\n", to: path, flag: flag) } else { try Output.print(text) }
}

/// A report's test metrics spread into its top level: the metrics' keys with `task`, or,
/// without metrics, `classes` and `task`.
struct InlineMetrics: Encodable {
    var metrics: MetricsReport?
    var classes: [String]
    var task: TaskKind

    enum CodingKeys: String, CodingKey { case classes, task }

    func encode(to encoder: any Encoder) throws {
        if let metrics { return try metrics.encode(to: encoder) }
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(classes, forKey: .classes)
        try container.encode(task.rawValue, forKey: .task)
    }
}
