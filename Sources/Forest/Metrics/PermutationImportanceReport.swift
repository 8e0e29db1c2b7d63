/// One feature's importance in a report: permutation importance (the drop of the score,
/// null without rows) or the forest's impurity importance (`inspect --json`).
public struct FeatureImportanceReport: Encodable, Sendable, Equatable {
    public var feature: String
    @NullWhenAbsent public var importance: Double?

    public init(feature: String, importance: Double) {
        self.feature = feature
        self.importance = ReportJSON.finite(importance)
    }
}

/// The `permutation_importance` block of train, coordinator and local `--report-json` and
/// `evaluate --json`: the metric (`accuracy` or `r2`), its unshuffled value, the rows and
/// shuffles per feature it was computed on, and the drop per feature.
public struct PermutationImportanceReport: Encodable, Sendable, Equatable {
    public var metric: String
    @NullWhenAbsent public var baseline: Double?
    public var rows: UInt64
    public var repeats: Int
    public var features: [FeatureImportanceReport]

    /// The report of `importance` with its features named `features`.
    public init(_ importance: PermutationImportance, features: [String]) {
        let values = importance.importances
        metric = importance.task == .classification ? "accuracy" : "r2"
        baseline = ReportJSON.finite(importance.baselineScore)
        rows = importance.rowCount
        repeats = importance.repeats
        self.features = features.indices.map { FeatureImportanceReport(feature: features[$0], importance: values[$0]) }
    }
}
