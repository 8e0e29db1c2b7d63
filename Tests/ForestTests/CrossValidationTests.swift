import Foundation
import SpaceTime
import Testing

@testable import Forest

@Suite struct CrossValidationTests {
    static func writeCSV(_ text: String, name: String = "cv.csv") throws -> String {
        let path = ModelFileTests.temporaryPath(name)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Header and data lines of a generated classification set.
    static func syntheticLines(rows: Int, classes: Int = 2, seed: UInt64 = 5) throws -> (header: String, rows: [String]) {
        var c = SyntheticClassification.Configuration()
        c.features = 6
        c.informative = 3
        c.redundant = 1
        c.classes = classes
        c.seed = seed
        var bytes: [UInt8] = []
        try SyntheticClassification(c).writeCSV(rows: rows) { bytes += $0 }
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
        return (lines[0], Array(lines.dropFirst()))
    }

    @Test func gridParsesInOdometerOrderAndNamesBadParts() throws {
        let g = try ParameterGrid(parsing: "max-features=sqrt,0.3; min-samples-leaf=1,5;trees=10,30")
        #expect(g.count == 8)
        #expect(g.label(0) == "max-features=sqrt min-samples-leaf=1 trees=10")
        #expect(g.label(1) == "max-features=sqrt min-samples-leaf=1 trees=30")
        #expect(g.label(7) == "max-features=0.3 min-samples-leaf=5 trees=30")
        let p = try g.parameters(6, base: ForestParameters())
        #expect(p.maxFeatures == .fraction(0.3) && p.minSamplesLeaf == 5 && p.trees == 10)
        func message(_ spec: String) -> String {
            do {
                _ = try ParameterGrid(parsing: spec)
                return ""
            } catch { return "\(error)" }
        }
        #expect(message("depth=3").contains("unknown parameter 'depth'"))
        #expect(message("trees=10,x").contains("trees=x"))
        #expect(message("trees=10;trees=20").contains("given twice"))
        #expect(message("trees").contains("not name=value"))
        #expect(message("max-features=sqrt,2.5").contains("max-features=2.5"))
    }

    @Test func summaryIsMeanAndSampleStandardDeviation() {
        let s = CrossValidationResult.Summary(name: "accuracy", values: [0.8, 0.9, 1.0])
        #expect(abs(s.mean - 0.9) < 1e-12)
        #expect(abs(s.standardDeviation - 0.1) < 1e-12)
        let nan = CrossValidationResult.Summary(name: "auc", values: [0.5, .nan, 0.7])
        #expect(abs(nan.mean - 0.6) < 1e-12)
    }

    @Test func foldsCoverEveryRowOnceAndAreStratifiedEvenOnASortedFile() throws {
        let data = try Self.syntheticLines(rows: 1200, classes: 3)
        func label(_ line: String) -> Int { Int(line.split(separator: ",").last!)! }
        // Sorted by label: folds of contiguous rows would each hold one class.
        let sorted = data.rows.enumerated().sorted { (label($0.element), $0.offset) < (label($1.element), $1.offset) }.map(\.element)
        let path = try Self.writeCSV(([data.header] + sorted).joined(separator: "\n") + "\n")
        defer { unlink(path) }

        var options = CrossValidationOptions(file: path)
        options.folds = 4
        options.threads = 2
        options.parameters.trees = 8
        options.keepPredictions = true
        let run = try CrossValidation.run(options)
        let result = try #require(run.results.first)
        #expect(run.rows == 1200)
        #expect(result.folds.count == 4)
        #expect(result.folds.reduce(0) { $0 + $1.testRows } == 1200)
        #expect(result.folds.allSatisfy { $0.trainRows + $0.testRows == 1200 })
        // Every fold holds ⌊n_c/4⌋ or ⌈n_c/4⌉ rows of each class.
        let perClass = (0..<3).map { c in sorted.filter { label($0) == c }.count }
        for fold in result.folds {
            let held = try #require(fold.metrics.classification).confusionMatrix.map { $0.reduce(0, +) }
            for c in 0..<3 { #expect(abs(Int(held[c]) * 4 - perClass[c]) < 4, "class \(c): \(held[c]) of \(perClass[c])") }
        }
        #expect(result.score.mean > 0.6)

        // Out-of-fold predictions: one per row, in input order, and their accuracy is the
        // folds' accuracies weighted by fold size.
        let oof = run.predictions[0]
        #expect(oof.lines.count == 1200 && oof.lines == oof.lines.sorted() && Set(oof.lines).count == 1200)
        var correct = 0
        oof.values.withUnsafeBufferPointer { v in
            for r in 0..<1200 where RandomForest.argmax(UnsafeBufferPointer(rebasing: v[r * 3..<(r + 1) * 3])) == label(sorted[r]) {
                correct += 1
            }
        }
        let pooled = result.folds.reduce(0.0) { $0 + $1.metrics.classification!.accuracy * Double($1.testRows) } / 1200
        #expect(abs(Double(correct) / 1200 - pooled) < 1e-9)

        // The same file and seed: the same folds and metrics; another seed: other folds.
        let again = try #require(try CrossValidation.run(options).results.first)
        #expect(again.folds.map(\.metrics) == result.folds.map(\.metrics))
        options.parameters.seed = 7
        let reseeded = try CrossValidation.run(options)
        #expect(reseeded.predictions[0].folds != oof.folds)
    }

    /// The held-out fold never shapes its own extractor: a level and a value range that
    /// occur only in fold 0 are unknown to fold 0's extractor and known to fold 1's.
    @Test func heldOutFoldDoesNotShapeItsBins() throws {
        func state(_ colors: [String], _ xs: [Double], _ labels: [String]) -> PartialExtractorState {
            var s = PartialExtractorState(featureNames: ["color", "x"], kinds: [.categorical, .numeric])
            for i in colors.indices {
                s.addLevel(feature: 0, colors[i])
                s.add([0, xs[i]], label: labels[i])
            }
            return s
        }
        let n = 60
        let fold0 = state((0..<n).map { $0 % 3 == 0 ? "green" : "red" }, (0..<n).map { 1000 + Double($0) }, (0..<n).map { "\($0 % 2)" })
        let fold1 = state((0..<n).map { $0 % 2 == 0 ? "red" : "blue" }, (0..<n).map { Double($0) }, (0..<n).map { "\($0 % 3)" })
        let partition = FoldStatistics(folds: [fold0, fold1])
        let e0 = try FoldStatistics.extractor(heldOut: 0, partitions: [partition], inputNames: ["color", "x"], maxBins: 255)
        let e1 = try FoldStatistics.extractor(heldOut: 1, partitions: [partition], inputNames: ["color", "x"], maxBins: 255)
        #expect(!e0.levels[0].contains("green") && e1.levels[0].contains("green"))
        #expect(e0.edges[1].allSatisfy { $0 < 1000 } && e1.edges[1].allSatisfy { $0 >= 1000 })
        // The class list is the data set's in every fold (fold 1 alone has class "2").
        #expect(e0.classes == ["0", "1", "2"] && e1.classes == ["0", "1", "2"])
    }

    /// Fold statistics kept per (partition, fold) give each fold the extractor of the folds'
    /// rows pooled in one partition: the split into partitions does not change it, and the
    /// checkpoint encoding round-trips.
    @Test func foldExtractorIsTheSameUnderAnyPartitioning() throws {
        func state(_ seed: Int, rows: Int) -> PartialExtractorState {
            var s = PartialExtractorState(featureNames: ["color", "x"], kinds: [.categorical, .numeric])
            for i in 0..<rows {
                let v = (i * 7919 + seed * 104_729) % 997
                s.addLevel(feature: 0, ["red", "green", "blue", "grey"][v % 4])
                s.add([0, Double(v) / 10], label: "\(v % 3)")
            }
            return s
        }
        // Partition p, fold k: rows of seed 10p + k.
        let split = (0..<3).map { p in FoldStatistics(folds: (0..<4).map { k in state(10 * p + k, rows: 50 + 3 * k) }) }
        let decoded = try split.map { try FoldStatistics(deserializing: $0.serialize()) }
        let pooled = FoldStatistics(folds: try (0..<4).map { k in try PartialExtractorState.merged(split.map { $0.folds[k] }) })
        for k in 0..<4 {
            let a = try FoldStatistics.extractor(heldOut: k, partitions: decoded, inputNames: ["color", "x"], maxBins: 32)
            let b = try FoldStatistics.extractor(heldOut: k, partitions: [pooled], inputNames: ["color", "x"], maxBins: 32)
            #expect(a.edges == b.edges && a.levels == b.levels)
            #expect(a.classes == ["0", "1", "2"])
        }
        #expect(decoded.map(\.rowCounts) == split.map(\.rowCounts))
        #expect(throws: ForestError.self) { try FoldStatistics(deserializing: Array(split[0].serialize().dropLast())) }
    }

    @Test func gridSharesTheFoldsAndRanksByMeanScore() throws {
        let data = try Self.syntheticLines(rows: 600)
        let path = try Self.writeCSV(([data.header] + data.rows).joined(separator: "\n") + "\n")
        defer { unlink(path) }
        var options = CrossValidationOptions(file: path)
        options.folds = 3
        options.threads = 2
        options.parameters.trees = 6
        options.grid = try ParameterGrid(parsing: "max-depth=1,8")
        let run = try CrossValidation.run(options)
        #expect(run.results.count == 2)
        #expect(run.results[0].folds.map(\.testRows) == run.results[1].folds.map(\.testRows))
        #expect(run.results[0].parameters.maxDepth == 1 && run.results[1].parameters.maxDepth == 8)
        let ranking = run.ranking
        #expect(run.results[ranking[0]].score.mean >= run.results[ranking[1]].score.mean)
        // A point of the grid alone gives the same folds' metrics as inside the grid.
        options.grid = ParameterGrid()
        options.parameters.maxDepth = 8
        let alone = try #require(try CrossValidation.run(options).results.first)
        #expect(alone.folds.map(\.metrics) == run.results[1].folds.map(\.metrics))
    }

    @Test func regressionReportsR2RMSEAndMAE() throws {
        var lines = ["a,b,y"]
        for i in 0..<500 {
            let a = Double(i % 50)
            let b = Double((i * 7) % 31)
            lines.append("\(a),\(b),\(2 * a + b * 0.5 + Double(i % 3))")
        }
        let path = try Self.writeCSV(lines.joined(separator: "\n") + "\n")
        defer { unlink(path) }
        var options = CrossValidationOptions(file: path)
        options.folds = 5
        options.threads = 2
        options.parameters.trees = 10
        options.columns.task = .regression
        let result = try #require(try CrossValidation.run(options).results.first)
        #expect(result.summaries.map(\.name) == ["r2", "rmse", "mae"])
        #expect(result.score.mean > 0.9)
        #expect(result.summaries[1].mean > 0 && result.summaries[2].mean <= result.summaries[1].mean)
    }
}
