import Foundation

/// Stable machine-readable and human-readable renderings of a ``MetricsAggregate``.
///
/// JSON keys (documented in docs/forest.md): `accuracy`, `balanced_accuracy`, `auc`,
/// `log_loss`, `rows`, `classes`, `confusion_matrix` (rows = true class, columns =
/// predicted, in `classes` order), `per_class` (list of `{class, precision, recall, f1, support}`).
public extension MetricsAggregate {
    func jsonObject(classes: [String]) -> [String: Any] {
        func number(_ x: Double) -> Any { x.isFinite ? x : NSNull() }
        return [
            "accuracy": number(accuracy),
            "balanced_accuracy": number(balancedAccuracy),
            "auc": number(auc),
            "log_loss": number(logLoss),
            "rows": rowCount,
            "classes": classes,
            "confusion_matrix": confusionMatrix,
            "per_class": zip(classes, perClass).map { name, m in
                ["class": name, "precision": m.precision, "recall": m.recall, "f1": m.f1, "support": m.support] as [String: Any]
            },
        ]
    }

    /// Summary line, per-class table and confusion matrix as text.
    func textReport(classes: [String]) -> String {
        func f(_ x: Double, _ digits: Int = 4) -> String { x.isFinite ? String(format: "%.\(digits)f", x) : "n/a" }
        var out = "accuracy \(f(accuracy))  balanced accuracy \(f(balancedAccuracy))  AUC \(f(auc))  log loss \(f(logLoss))  (\(rowCount) rows)\n"
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

/// Writes a JSON object with sorted keys (stable output).
public func encodeJSON(_ object: Any) throws -> String {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    return String(decoding: data, as: UTF8.self)
}
