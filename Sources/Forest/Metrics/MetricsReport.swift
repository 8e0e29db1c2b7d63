import Foundation

/// One class's row of a classification report: precision, recall and F1 (0 where
/// undefined) and support (the class's true rows).
public struct ClassScoresReport: Encodable, Sendable, Equatable {
    public var className: String
    public var precision: Double
    public var recall: Double
    public var f1: Double
    public var support: UInt64

    enum CodingKeys: String, CodingKey {
        case className = "class"
        case precision, recall, f1, support
    }
}

/// Classification metrics as reported (keys documented in docs/forest.md): `accuracy`,
/// `balanced_accuracy`, `auc`, `log_loss` (null where undefined), `rows`, `classes`,
/// `confusion_matrix` (rows = true class, columns = predicted, in `classes` order) and `per_class`.
public struct ClassificationMetricsReport: Encodable, Sendable, Equatable {
    @NullWhenAbsent public var accuracy: Double?
    @NullWhenAbsent public var balancedAccuracy: Double?
    @NullWhenAbsent public var auc: Double?
    @NullWhenAbsent public var logLoss: Double?
    public var rows: UInt64
    public var classes: [String]
    public var confusionMatrix: [[UInt64]]
    public var perClass: [ClassScoresReport]

    enum CodingKeys: String, CodingKey {
        case accuracy
        case balancedAccuracy = "balanced_accuracy"
        case auc
        case logLoss = "log_loss"
        case rows, classes
        case confusionMatrix = "confusion_matrix"
        case perClass = "per_class"
    }

    /// The report of `metrics` with its classes named `classes`.
    public init(_ metrics: MetricsAggregate, classes: [String]) {
        accuracy = ReportJSON.finite(metrics.accuracy)
        balancedAccuracy = ReportJSON.finite(metrics.balancedAccuracy)
        auc = ReportJSON.finite(metrics.auc)
        logLoss = ReportJSON.finite(metrics.logLoss)
        rows = metrics.rowCount
        self.classes = classes
        confusionMatrix = metrics.confusionMatrix
        perClass = zip(classes, metrics.perClass).map {
            ClassScoresReport(className: $0, precision: $1.precision, recall: $1.recall, f1: $1.f1, support: $1.support)
        }
    }
}

/// Regression metrics as reported: `r2`, `rmse`, `mae` (in the target's units; null where
/// undefined) and `rows`.
public struct RegressionMetricsReport: Encodable, Sendable, Equatable {
    @NullWhenAbsent public var r2: Double?
    @NullWhenAbsent public var rmse: Double?
    @NullWhenAbsent public var mae: Double?
    public var rows: UInt64

    public init(_ metrics: RegressionMetrics) {
        r2 = ReportJSON.finite(metrics.r2)
        rmse = ReportJSON.finite(metrics.rmse)
        mae = ReportJSON.finite(metrics.mae)
        rows = metrics.rowCount
    }
}

/// The metrics block of every report that scores a model (train, coordinator and local
/// `--report-json`, `evaluate --json`, `inspect --json`, cv): `task` and the task's metrics.
public enum MetricsReport: Encodable, Sendable, Equatable {
    case classification(ClassificationMetricsReport)
    case regression(RegressionMetricsReport)

    /// The report of `metrics`; `classes` names a classification's classes.
    public init(_ metrics: EvaluationMetrics, classes: [String]) {
        switch metrics {
        case .classification(let m): self = .classification(ClassificationMetricsReport(m, classes: classes))
        case .regression(let m): self = .regression(RegressionMetricsReport(m))
        }
    }

    public var task: TaskKind {
        switch self {
        case .classification: .classification
        case .regression: .regression
        }
    }

    enum TaskKey: String, CodingKey { case task }

    /// The task's metrics and `task`, as keys of the object `encoder` writes (which may hold
    /// other keys of a report too).
    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .classification(let m): try m.encode(to: encoder)
        case .regression(let m): try m.encode(to: encoder)
        }
        var container = encoder.container(keyedBy: TaskKey.self)
        try container.encode(task.rawValue, forKey: .task)
    }
}

extension MetricsAggregate {
    /// Summary line, per-class table and confusion matrix as text.
    public func textReport(classes: [String]) -> String {
        func f(_ x: Double, _ digits: Int = 4) -> String { x.isFinite ? String(format: "%.\(digits)f", x) : "n/a" }
        var out =
            "accuracy \(f(accuracy))  balanced accuracy \(f(balancedAccuracy))  AUC \(f(auc))  log loss \(f(logLoss))  (\(rowCount) rows)\n"
        let width = max(8, classes.map(\.count).max() ?? 0)
        func pad(_ s: String, _ w: Int) -> String { String(repeating: " ", count: max(0, w - s.count)) + s }
        out += pad("class", width) + "  precision     recall         f1    support\n"
        for (name, m) in zip(classes, perClass) {
            out += pad(name, width) + pad(f(m.precision), 11) + pad(f(m.recall), 11) + pad(f(m.f1), 11) + pad(String(m.support), 11) + "\n"
        }
        if classes.count <= 20 {
            let cells = confusionMatrix.flatMap { $0.map { String($0) } }
            let cw = max(width, (cells.map(\.count).max() ?? 1) + 1)
            out += "confusion matrix (rows: true, columns: predicted)\n"
            out += pad("", width) + classes.map { pad($0, cw) }.joined() + "\n"
            for (name, row) in zip(classes, confusionMatrix) {
                out += pad(name, width) + row.map { pad(String($0), cw) }.joined() + "\n"
            }
        }
        return out
    }
}
