import Foundation
import TestSupport
import Testing

@testable import Cluster

/// The HTML report's figures are the JSON report's: the same merged aggregates, read back
/// from the page's `data-*` attributes (full precision) after real `local` and `train` runs.
/// Foundation's JSON writer prints doubles to 15–16 significant digits, so a figure
/// equals its JSON counterpart to that precision (``same(_:_:)``).
@Suite(.serialized) struct ReportEndToEndTests {
    /// `page` (the page's exact value) and `json` (as the JSON report printed it) agree to the JSON's precision.
    static func same(_ page: String?, _ json: Any?) -> Bool {
        guard let p = page.flatMap(Double.init), let j = json as? Double else { return false }
        return p == j || abs(p - j) <= 1e-15 * max(abs(p), abs(j))
    }

    /// The attributes of every element of `html` whose opening tag contains `marker`.
    static func elements(_ html: String, _ marker: String) -> [[String: String]] {
        let tag = try! NSRegularExpression(pattern: "<[a-z]+ [^>]*\(NSRegularExpression.escapedPattern(for: marker))[^>]*>")
        let attribute = try! NSRegularExpression(pattern: "([a-z0-9-]+)=\"([^\"]*)\"")
        return tag.matches(in: html, range: NSRange(html.startIndex..., in: html)).map { m in
            let text = String(html[Range(m.range, in: html)!])
            var out: [String: String] = [:]
            for a in attribute.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                out[String(text[Range(a.range(at: 1), in: text)!])] = String(text[Range(a.range(at: 2), in: text)!])
                    .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&lt;", with: "<")
                    .replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&#39;", with: "'")
                    .replacingOccurrences(of: "&amp;", with: "&")
            }
            return out
        }
    }

    /// `data-key` → `data-value` of the headline numbers.
    static func headline(_ html: String) -> [String: String] {
        Dictionary(elements(html, "data-key=").map { ($0["data-key"] ?? "", $0["data-value"] ?? "") }) { a, _ in a }
    }

    /// The bars of the figure `plot`: label → value.
    static func bars(_ html: String, plot: String) -> [String: Double] {
        guard let start = html.range(of: "data-plot=\"\(plot)\""),
            let end = html.range(of: "</figure>", range: start.upperBound..<html.endIndex)
        else { return [:] }
        let figure = String(html[start.lowerBound..<end.upperBound])
        return Dictionary(
            elements(figure, "data-value=").compactMap { e in e["data-label"].map { ($0, Double(e["data-value"] ?? "") ?? .nan) } }
        ) { a, _ in a }
    }

    @Test func localReportEqualsItsJSONReport() throws {
        let dir = try E2E.tempDir("report")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try E2E.generate(rows: 3000, features: 8, in: dir)
        let (status, child) = try E2E.run(
            [
                "local", data, "--workers", "2", "--memory-limit", "256MiB", "--job-dir", dir + "/job",
                "--partitions", "2", "--trees", "12", "--model-out", "m.stm", "--report-json", "r.json",
                "--report-html", "r.html", "--heartbeat", "0.25", "--liveness", "12", "--progress", "none",
                "--permutation-importance"
            ],
            in: dir, name: "local", timeout: 180)
        #expect(status == 0, "\(child.stderr)")
        let json = try E2E.json(dir + "/r.json")
        let html = try String(contentsOfFile: dir + "/r.html", encoding: .utf8)
        let head = Self.headline(html)
        for key in ["accuracy", "balanced_accuracy", "auc", "log_loss"] {
            #expect(Self.same(head[key], json[key]), "\(key): page \(head[key] ?? "none"), JSON \(json[key] ?? "none")")
        }
        #expect(head["rows"] == "\(json["rows"] as? Int ?? -1)" && head["state"] == "done")
        let confusion = try #require(Self.elements(html, "data-confusion=").first?["data-confusion"])
        let jsonConfusion = (json["confusion_matrix"] as? [[Int]] ?? []).map { $0.map(String.init).joined(separator: ",") }.joined(
            separator: ";")
        #expect(confusion == jsonConfusion)
        let perClass = Self.elements(html, "data-class=")
        let jsonPerClass = json["per_class"] as? [[String: Any]] ?? []
        #expect(perClass.count == jsonPerClass.count && perClass.count == 2)
        for (page, j) in zip(perClass, jsonPerClass) {
            #expect(page["data-class"] == j["class"] as? String)
            for key in ["precision", "recall", "f1"] { #expect(Self.same(page["data-\(key)"], j[key]), "\(key)") }
            #expect(page["data-support"] == "\(j["support"] as? Int ?? -1)")
        }
        let stages = Self.elements(html, "data-stage=")
        let jsonStages = json["stages"] as? [[String: Any]] ?? []
        #expect(stages.map { $0["data-stage"] ?? "" } == jsonStages.map { $0["stage"] as? String ?? "" })
        for (page, j) in zip(stages, jsonStages) {
            #expect(Self.same(page["data-seconds"], j["seconds"]), "\(page["data-stage"] ?? "")")
            #expect(page["data-rows"] == ((j["rows"] as? Int).map(String.init) ?? ""))
        }
        let workers = Dictionary(
            Self.elements(html, "data-worker=").filter { $0["data-peak"] != nil && $0["data-limit"] == nil }
                .map { ($0["data-worker"] ?? "", $0["data-peak"] ?? "") }
        ) { a, _ in a }
        for w in json["workers"] as? [[String: Any]] ?? [] {
            #expect(workers[w["id"] as? String ?? ""] == "\(w["peak_rss"] as? Int ?? -1)", "\(w)")
        }
        // The impurity importances from the stored trees are the saved model's.
        let (inspectStatus, inspect) = try E2E.run(["inspect", "m.stm", "--json"], in: dir, name: "inspect")
        #expect(inspectStatus == 0)
        let model = try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as? [String: Any] ?? [:]
        let importances = Self.bars(html, plot: "impurity-importance")
        for f in model["feature_importances"] as? [[String: Any]] ?? [] {
            let name = f["feature"] as? String ?? ""
            let value = f["importance"] as? Double ?? -1
            #expect(abs((importances[name] ?? -1) - value) <= 1e-12 * max(1, value), "\(name)")
        }
        #expect(importances.count == 8)
        // `spacetime report JOBDIR` later gives the same numbers, and the model file's report too.
        let (again, reportChild) = try E2E.run(
            ["report", dir + "/job", "--out", "again.html", "--json", "again.json"], in: dir, name: "report")
        #expect(again == 0, "\(reportChild.stderr)")
        let later = Self.headline(try String(contentsOfFile: dir + "/again.html", encoding: .utf8))
        for key in ["accuracy", "auc", "log_loss"] { #expect(later[key] == head[key]) }
        let (fromModel, _) = try E2E.run(["report", "m.stm", "--out", "model.html"], in: dir, name: "report-model")
        #expect(fromModel == 0)
        let modelHTML = try String(contentsOfFile: dir + "/model.html", encoding: .utf8)
        let modelPage = Self.headline(modelHTML)
        for key in ["accuracy", "auc", "log_loss"] { #expect(modelPage[key] == head[key]) }
        let modelBars = Self.bars(modelHTML, plot: "impurity-importance")
        for (name, value) in importances { #expect(abs((modelBars[name] ?? -1) - value) <= 1e-12, "\(name)") }
        // Permutation importance computed by the workers holding the test rows: the page shows the JSON's
        // values, and they equal single-process training's with the same partitions (same rows, same shuffles).
        let jsonPermutation = (json["permutation_importance"] as? [String: Any])?["features"] as? [[String: Any]] ?? []
        let pagePermutation = Self.bars(html, plot: "permutation-importance")
        #expect(jsonPermutation.count == 8 && pagePermutation.count == 8)
        for f in jsonPermutation {
            #expect(Self.same(pagePermutation[f["feature"] as? String ?? ""].map { "\($0)" }, f["importance"]), "\(f)")
        }
        let single = try E2E.singleProcess(data, in: dir, flags: ["--partitions", "2", "--trees", "12", "--permutation-importance"])
        #expect(single.fingerprint == json["fingerprint"] as? String)
        let singleJSON = try E2E.json(dir + "/single.json")
        #expect(
            NSDictionary(dictionary: singleJSON["permutation_importance"] as? [String: Any] ?? [:])
                .isEqual(to: json["permutation_importance"] as? [String: Any] ?? ["missing": true]))
        let refused = try E2E.run(["report", dir + "/job", "--out", dir + "/job/job.sqlite"], in: dir, name: "refused")
        #expect(refused.status != 0 && refused.child.stderr.contains("--out"))
    }

    @Test func trainRegressionReportEqualsItsJSONReport() throws {
        let dir = try E2E.tempDir("report-regression")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = dir + "/table.csv"
        try CategoricalEndToEndTests.writeTable(rows: 2000, regression: true, seed: 4, to: data)
        let (status, child) = try E2E.run(
            [
                "train", data, "--categorical", "zone", "--ignore", "id", "--trees", "15", "--threads", "1",
                "--model-out", "m.stm", "--report-json", "r.json", "--report-html", "r.html",
                "--permutation-importance"
            ], in: dir, name: "train")
        #expect(status == 0, "\(child.stderr)")
        let json = try E2E.json(dir + "/r.json")
        let html = try String(contentsOfFile: dir + "/r.html", encoding: .utf8)
        let head = Self.headline(html)
        for key in ["r2", "rmse", "mae"] { #expect(Self.same(head[key], json[key]), "\(key)") }
        for plot in ["predicted-actual", "residuals", "impurity-importance", "permutation-importance"] {
            #expect(html.contains("data-plot=\"\(plot)\""), "\(plot)")
        }
        #expect(!html.contains("data-empty=\"true\""))
        let permutation = Self.bars(html, plot: "permutation-importance")
        let jsonPermutation = (json["permutation_importance"] as? [String: Any])?["features"] as? [[String: Any]] ?? []
        #expect(!jsonPermutation.isEmpty && permutation.count == jsonPermutation.count)
        for f in jsonPermutation { #expect(Self.same(permutation[f["feature"] as? String ?? ""].map { "\($0)" }, f["importance"]), "\(f)") }
        // The same model's evaluation on a file computes permutation importance too.
        let (evaluated, evaluation) = try E2E.run(
            ["evaluate", "--model", "m.stm", data, "--json", "--permutation-importance"], in: dir, name: "evaluate")
        #expect(evaluated == 0, "\(evaluation.stderr)")
        let e = try JSONSerialization.jsonObject(with: Data(evaluation.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(((e["permutation_importance"] as? [String: Any])?["features"] as? [Any])?.count == jsonPermutation.count)
    }
}
