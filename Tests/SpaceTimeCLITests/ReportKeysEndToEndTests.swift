import Foundation
import TestSupport
import Testing

/// The top-level keys of every command's JSON report on a real run: scripts and users
/// parse them, so a renamed, lost or added key must fail here.
@Suite struct ReportKeysEndToEndTests {
    static let classification: Set<String> = [
        "task", "accuracy", "balanced_accuracy", "auc", "log_loss", "rows", "classes",
        "confusion_matrix", "per_class"
    ]
    static let regression: Set<String> = ["task", "r2", "rmse", "mae", "rows"]
    static let train: Set<String> = [
        "task_reason", "categorical_features", "fingerprint", "model", "train_rows", "test_rows",
        "partitions", "partition_rows", "threads", "trees", "seconds", "cpu_seconds", "parameters"
    ]
    static let job: Set<String> = [
        "fingerprint", "model", "partitions", "partition_rows", "trees", "stages", "workers",
        "coordinator_peak_rss", "parameters"
    ]

    static func run(_ arguments: [String], in dir: String) throws -> String {
        let (status, child) = try E2E.run(arguments, in: dir, name: arguments[0], timeout: 180)
        #expect(status == 0, "\(arguments): \(child.stderr)")
        return child.stdout
    }

    static func object(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    static func keys(_ value: Any?) -> Set<String> { Set((value as? [String: Any])?.keys.map { $0 } ?? []) }

    @Test func classificationReports() throws {
        let dir = try E2E.tempDir("report-keys")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try E2E.generate(rows: 400, features: 8, in: dir)

        _ = try Self.run(
            [
                "train", data, "--trees", "5", "--threads", "1", "--oob", "--permutation-importance",
                "--model-out", "m.stm", "--report-json", "train.json"
            ], in: dir)
        let train = try E2E.json(dir + "/train.json")
        #expect(Set(train.keys) == Self.classification.union(Self.train).union(["oob", "oob_accuracy", "permutation_importance"]))
        #expect(Self.keys(train["oob"]) == Self.classification)
        #expect(Self.keys(train["permutation_importance"]) == ["metric", "baseline", "rows", "repeats", "features"])
        #expect(Self.keys(train["seconds"]).contains("total") && Self.keys(train["cpu_seconds"]).contains("total"))

        let model = try Self.object(try Self.run(["inspect", "--json", "m.stm"], in: dir))
        #expect(
            Set(model.keys) == [
                "fingerprint", "format_version", "label_column", "task", "column_kinds", "ignored_columns",
                "classes", "class_counts", "features", "constant_features", "bins_per_feature", "trees",
                "nodes", "leaves", "max_depth", "mean_depth", "tree_bytes", "bytes_per_node", "bytes_per_tree",
                "feature_importances", "parameters", "provenance", "test_metrics", "oob_metrics"
            ])
        #expect((model["column_kinds"] as? [[String: Any]])?.allSatisfy { Set($0.keys) == ["name", "kind", "levels"] } == true)
        #expect((model["feature_importances"] as? [[String: Any]])?.allSatisfy { Set($0.keys) == ["feature", "importance"] } == true)
        #expect(Self.keys(model["test_metrics"]) == Self.classification && Self.keys(model["oob_metrics"]) == Self.classification)
        #expect(model["fingerprint"] as? String == train["fingerprint"] as? String)

        let evaluation = try Self.object(
            try Self.run(["evaluate", "--json", "--model", "m.stm", data, "--permutation-importance"], in: dir))
        #expect(Set(evaluation.keys) == Self.classification.union(["fingerprint", "permutation_importance"]))

        let export = try Self.object(try Self.run(["export", "--json", "m.stm", "-o", "m.onnx"], in: dir))
        #expect(Set(export.keys) == ["out", "bytes", "operator", "ml_opset", "fingerprint", "inputs", "outputs", "other_levels"])
        #expect((export["inputs"] as? [[String: Any]])?.allSatisfy { Set($0.keys) == ["name", "type", "shape"] } == true)
        #expect((export["outputs"] as? [[String: Any]])?.allSatisfy { Set($0.keys) == ["name", "type", "shape"] } == true)

        _ = try Self.run(
            [
                "cv", data, "--folds", "2", "--trees", "3", "--threads", "1", "--grid", "max-depth=2,4",
                "--refit", "--model-out", "cv.stm", "--report-json", "cv.json"
            ], in: dir)
        let cv = try E2E.json(dir + "/cv.json")
        #expect(
            Set(cv.keys) == [
                "task", "task_reason", "folds", "rows", "threads", "classes", "seconds", "cpu_seconds",
                "points", "ranking", "best", "model", "fingerprint"
            ])
        let points = try #require(cv["points"] as? [[String: Any]])
        #expect(points.count == 2 && points.allSatisfy { Set($0.keys) == ["label", "parameters", "cpu_seconds", "folds", "mean", "std"] })
        #expect(
            (points[0]["folds"] as? [[String: Any]])?.allSatisfy {
                Set($0.keys) == ["fold", "train_rows", "test_rows", "accuracy", "auc", "log_loss"]
            } == true)
        #expect(
            Self.keys(points[0]["mean"]) == ["accuracy", "auc", "log_loss"]
                && Self.keys(points[0]["std"]) == ["accuracy", "auc", "log_loss"])
        let refit = try Self.object(try Self.run(["inspect", "--json", "cv.stm"], in: dir))
        let provenance = try #require((refit["provenance"] as? [String: String])?["cross_validation"])
        #expect(Set(try Self.object(provenance).keys) == ["label", "parameters", "cpu_seconds", "folds", "mean", "std"])

        _ = try Self.run(
            [
                "local", data, "--workers", "1", "--trees", "4", "--permutation-importance", "--progress", "none",
                "--model-out", "local.stm", "--report-json", "local.json"
            ], in: dir)
        let local = try E2E.json(dir + "/local.json")
        #expect(Set(local.keys) == Self.classification.union(Self.job).union(["permutation_importance"]))
        #expect((local["stages"] as? [[String: Any]])?.allSatisfy { Set($0.keys) == ["stage", "seconds", "rows"] } == true)
        #expect(
            (local["workers"] as? [[String: Any]])?.allSatisfy {
                Set($0.keys) == ["id", "pid", "peak_rss", "limit", "cgroup_peak", "exit"]
            } == true)
    }

    @Test func regressionAndMetricLessReports() throws {
        let dir = try E2E.tempDir("report-keys-regression")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var text = "a,b,y\n"
        for i in 0..<200 { text += "\(i % 17),\(Double(i % 23) / 4),\(Double(i % 17) * 1.5 + Double(i % 5))\n" }
        try text.write(toFile: dir + "/r.csv", atomically: true, encoding: .utf8)

        _ = try Self.run(
            [
                "train", "r.csv", "--trees", "4", "--threads", "1", "--task", "regression",
                "--model-out", "r.stm", "--report-json", "train.json"
            ], in: dir)
        let train = try E2E.json(dir + "/train.json")
        #expect(Set(train.keys) == Self.regression.union(Self.train))
        #expect((train["parameters"] as? [String: Any])?["criterion"] as? String == "squared_error")

        _ = try Self.run(
            ["cv", "r.csv", "--folds", "2", "--trees", "3", "--threads", "1", "--task", "regression", "--report-json", "cv.json"], in: dir)
        let points = try #require(try E2E.json(dir + "/cv.json")["points"] as? [[String: Any]])
        #expect(
            (points[0]["folds"] as? [[String: Any]])?.allSatisfy {
                Set($0.keys) == ["fold", "train_rows", "test_rows", "r2", "rmse", "mae"]
            } == true)

        // Without test rows: no metrics, only `classes` and `task` beside the run's keys.
        _ = try Self.run(
            [
                "train", "r.csv", "--trees", "2", "--threads", "1", "--test-fraction", "0", "--task", "regression",
                "--model-out", "r0.stm", "--report-json", "train0.json"
            ], in: dir)
        let bare = try E2E.json(dir + "/train0.json")
        #expect(Set(bare.keys) == Self.train.union(["classes", "task"]) && bare["task"] as? String == "regression")
        let model = try Self.object(try Self.run(["inspect", "--json", "r0.stm"], in: dir))
        #expect(model["test_metrics"] == nil && model["oob_metrics"] == nil)
    }
}
