import Foundation
import Testing

@testable import Forest

/// The JSON keys of the metrics, parameters and permutation importance reports, on models
/// trained here: scripts and users parse these keys, so a renamed one must fail here.
@Suite struct MetricsReportTests {
    static let classificationKeys: Set<String> = [
        "task", "accuracy", "balanced_accuracy", "auc", "log_loss", "rows",
        "classes", "confusion_matrix", "per_class"
    ]
    static let regressionKeys: Set<String> = ["task", "r2", "rmse", "mae", "rows"]
    static let parameterKeys: Set<String> = [
        "trees", "criterion", "max_depth", "min_samples_split", "min_samples_leaf",
        "max_features", "bootstrap", "class_weight", "seed", "min_category_rows"
    ]
    static let permutationKeys: Set<String> = ["metric", "baseline", "rows", "repeats", "features"]

    /// `report` encoded and parsed back.
    static func object(_ report: some Encodable) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(ReportJSON.encode(report).utf8)) as? [String: Any])
    }

    /// A model trained on `csv` with 20 % test rows, out-of-bag scores and permutation importance.
    static func train(_ csv: String) throws -> TrainingResult {
        let dir = try TestData.temporaryDirectory("metrics-report")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try csv.write(toFile: dir + "/data.csv", atomically: true, encoding: .utf8)
        var options = TrainingOptions(trainFile: dir + "/data.csv")
        options.parameters.trees = 5
        options.threads = 1
        options.outOfBag = true
        options.permutationRepeats = 1
        return try SingleProcessTraining.run(options)
    }

    static func csv(rows: Int, label: (Double, Double) -> String) -> String {
        var rng = ForestRNG(seed: 3)
        var text = "x0,x1,y\n"
        for _ in 0..<rows {
            let x0 = Double(rng.next() % 1000) / 100
            let x1 = Double(rng.next() % 1000) / 100
            text += "\(x0),\(x1),\(label(x0, x1))\n"
        }
        return text
    }

    @Test func classificationReportKeys() throws {
        let result = try Self.train(Self.csv(rows: 300) { x0, _ in x0 > 5 ? "yes" : "no" })
        let model = result.model
        let classes = model.extractor.classes
        let metrics = try Self.object(MetricsReport(try #require(model.testMetrics), classes: classes))
        #expect(Set(metrics.keys) == Self.classificationKeys)
        #expect(metrics["task"] as? String == "classification" && metrics["classes"] as? [String] == ["no", "yes"])
        let perClass = try #require(metrics["per_class"] as? [[String: Any]])
        #expect(perClass.count == 2 && perClass.allSatisfy { Set($0.keys) == ["class", "precision", "recall", "f1", "support"] })
        #expect(perClass.map { $0["class"] as? String } == ["no", "yes"])
        #expect((metrics["confusion_matrix"] as? [[Int]])?.count == 2)
        #expect(Set(try Self.object(MetricsReport(try #require(model.outOfBagMetrics), classes: classes)).keys) == Self.classificationKeys)

        let parameters = try Self.object(ForestParametersReport(model.parameters, task: .classification))
        #expect(Set(parameters.keys) == Self.parameterKeys)
        #expect(parameters["max_depth"] is NSNull && parameters["criterion"] as? String == "gini" && parameters["trees"] as? Int == 5)

        let permutation = try Self.object(
            PermutationImportanceReport(
                try #require(result.permutationImportance),
                features: model.extractor.featureNames))
        #expect(Set(permutation.keys) == Self.permutationKeys && permutation["metric"] as? String == "accuracy")
        let features = try #require(permutation["features"] as? [[String: Any]])
        #expect(
            features.map { $0["feature"] as? String } == ["x0", "x1"] && features.allSatisfy { Set($0.keys) == ["feature", "importance"] })
    }

    @Test func regressionReportKeys() throws {
        let result = try Self.train(Self.csv(rows: 300) { x0, x1 in "\(2 * x0 + x1 / 3)" })
        let model = result.model
        let metrics = try Self.object(MetricsReport(try #require(model.testMetrics), classes: model.extractor.classes))
        #expect(Set(metrics.keys) == Self.regressionKeys && metrics["task"] as? String == "regression")
        let parameters = try Self.object(ForestParametersReport(model.parameters, task: .regression))
        #expect(Set(parameters.keys) == Self.parameterKeys && parameters["criterion"] as? String == "squared_error")
        let permutation = try Self.object(
            PermutationImportanceReport(
                try #require(result.permutationImportance),
                features: model.extractor.featureNames))
        #expect(Set(permutation.keys) == Self.permutationKeys && permutation["metric"] as? String == "r2")
    }

    @Test func undefinedMetricsAreNullAndKeysStay() throws {
        // One class present of two: AUC is undefined; no rows: every score is.
        var metrics = MetricsAggregate(classCount: 2)
        metrics.add(probabilities: [0.8, 0.2, 0.6, 0.4], labels: [0, 0])
        let one = try Self.object(MetricsReport(.classification(metrics), classes: ["a", "b"]))
        #expect(Set(one.keys) == Self.classificationKeys && one["auc"] is NSNull && one["accuracy"] as? Double == 1)
        let empty = try Self.object(MetricsReport(.regression(RegressionMetrics()), classes: []))
        #expect(Set(empty.keys) == Self.regressionKeys && empty["r2"] is NSNull && empty["rmse"] is NSNull && empty["rows"] as? Int == 0)
        let noRows = try Self.object(
            PermutationImportanceReport(
                PermutationImportance(task: .regression, featureCount: 1, repeats: 1),
                features: ["x"]))
        #expect(noRows["baseline"] is NSNull && (noRows["features"] as? [[String: Any]])?.first?["importance"] is NSNull)
    }

    @Test func parameterFieldsAreTheReportKeysAsText() {
        var p = ForestParameters()
        p.maxDepth = 7
        let fields = ForestParametersReport(p, task: .classification).fields
        #expect(Set(fields.map(\.key)) == Self.parameterKeys && fields.map(\.key) == fields.map(\.key).sorted())
        #expect(fields.first { $0.key == "max_depth" }?.value == "7" && fields.first { $0.key == "bootstrap" }?.value == "true")
        #expect(ForestParametersReport(ForestParameters(), task: .classification).fields.first { $0.key == "max_depth" }?.value == "none")
    }
}
