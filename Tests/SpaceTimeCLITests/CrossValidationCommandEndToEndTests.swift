import Forest
import Foundation
import TestSupport
import Testing

/// `spacetime cv` as a user runs it: a grid, --refit, --oof-out and --report-json.
@Suite struct CrossValidationCommandEndToEndTests {
    @Test func gridRefitAndOutOfFoldPredictions() throws {
        let dir = try E2E.tempDir("cv")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var (status, child) = try E2E.run(["generate", "--rows", "600", "--features", "8", "--out", "data.csv"], in: dir, name: "gen")
        #expect(status == 0, "\(child.stderr)")
        (status, child) = try E2E.run(
            [
                "cv", "data.csv", "--folds", "3", "--trees", "8", "--threads", "2",
                "--grid", "max-depth=1,8", "--refit", "--model-out", "best.stm",
                "--oof-out", "oof.csv", "--report-json", "cv.json"
            ], in: dir, name: "cv")
        #expect(status == 0, "\(child.stderr)")
        #expect(child.stdout.contains("ranked by mean accuracy"), "\(child.stdout)")
        #expect(child.stdout.contains("[max-depth=1]") && child.stdout.contains("[max-depth=8]"))

        let report = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/cv.json"))) as? [String: Any])
        let points = try #require(report["points"] as? [[String: Any]])
        #expect(points.count == 2 && (report["folds"] as? Int) == 3 && (report["rows"] as? Int) == 600)
        let ranking = try #require(report["ranking"] as? [Int])
        func mean(_ p: Int) -> Double { ((points[p]["mean"] as? [String: Any])?["accuracy"] as? Double) ?? -1 }
        #expect(mean(ranking[0]) >= mean(ranking[1]))
        let folds = try #require(points[0]["folds"] as? [[String: Any]])
        #expect(folds.reduce(0) { $0 + (($1["test_rows"] as? Int) ?? 0) } == 600)

        // The refit model is the best point trained on every row.
        let model = try ForestModel.load(from: dir + "/best.stm")
        let best = try #require(report["best"] as? Int)
        #expect(model.parameters.maxDepth == (best == 0 ? 1 : 8))
        #expect(model.provenance["train_rows"] == "600")
        #expect(model.provenance["cross_validation"]?.contains("\"mean\"") == true)
        #expect(child.stdout.contains("fingerprint \(model.fingerprintHex)"))

        let oof = try String(contentsOfFile: dir + "/oof.csv", encoding: .utf8).split(separator: "\n")
        #expect(oof.count == 601 && oof[0] == "fold,prediction,p_0,p_1")
        #expect(oof.dropFirst().allSatisfy { Int($0.split(separator: ",")[0]).map { (1...3).contains($0) } ?? false })

        // A `;`-separated copy: the same folds and metrics.
        let text = try String(contentsOfFile: dir + "/data.csv", encoding: .utf8)
        try text.replacingOccurrences(of: ",", with: ";").write(toFile: dir + "/semi.csv", atomically: true, encoding: .utf8)
        (status, child) = try E2E.run(
            [
                "cv", "semi.csv", "--delimiter", ";", "--folds", "3", "--trees", "8", "--threads", "2",
                "--grid", "max-depth=1,8", "--report-json", "semi.json"
            ], in: dir, name: "cv-semi")
        #expect(status == 0, "\(child.stderr)")
        let semi = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/semi.json"))) as? [String: Any])
        let semiPoints = try #require(semi["points"] as? [[String: Any]])
        #expect(semiPoints.map { $0["mean"] as? [String: Double] } == points.map { $0["mean"] as? [String: Double] })
    }

    @Test func badGridAndFoldsAreRefusedByName() throws {
        let dir = try E2E.tempDir("cv-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "a,b\n1,0\n2,1\n".write(toFile: dir + "/d.csv", atomically: true, encoding: .utf8)
        var (status, child) = try E2E.run(["cv", "d.csv", "--grid", "depth=3"], in: dir, name: "grid")
        #expect(status != 0 && child.stderr.contains("--grid") && child.stderr.contains("unknown parameter 'depth'"), "\(child.stderr)")
        (status, child) = try E2E.run(["cv", "d.csv", "--folds", "1"], in: dir, name: "folds")
        #expect(status != 0 && child.stderr.contains("--folds"), "\(child.stderr)")
    }
}
