import Foundation
import Testing

@testable import Forest

/// The aggregates the job report draws: curves from the score histograms, the regression
/// histograms, and permutation importance. Expected values from scikit-learn 1.x
/// (average_precision_score, roc_auc_score, calibration_curve).
@Suite struct ReportAggregateTests {
    static func binary(_ labels: [Int], _ p1: [Double]) -> MetricsAggregate {
        var m = MetricsAggregate(classCount: 2)
        for (y, p) in zip(labels, p1) { m.add(probabilities: [1 - p, p], trueClass: y) }
        return m
    }

    /// Trapezoidal area under a polyline.
    static func area(_ points: [CurvePoint]) -> Double {
        zip(points, points.dropFirst()).reduce(0) { $0 + ($1.1.x - $1.0.x) * ($1.0.y + $1.1.y) / 2 }
    }

    @Test func rocCurveAreaIsTheAggregatesAUC() throws {
        let m = Self.binary(MetricsTests.binaryLabels, MetricsTests.binaryP1)
        let h = try #require(m.scoreHistograms(ofClass: 1))
        let points = try #require(QualityCurves.roc(positive: h.positive, negative: h.negative, resolution: 0))
        #expect(points.first == CurvePoint(0, 0) && points.last == CurvePoint(1, 1))
        #expect(abs(Self.area(points) - m.auc) < 1e-12)
        #expect(abs(Self.area(points) - 0.9444444444444444) < 1e-9)
        // Monotone in both coordinates.
        #expect(zip(points, points.dropFirst()).allSatisfy { $0.x <= $1.x && $0.y <= $1.y })
        // Binary: class 0 keeps no histograms (its AUC is class 1's).
        #expect(m.scoreHistograms(ofClass: 0) == nil)
    }

    @Test func precisionRecallMatchesScikitLearnsAveragePrecision() throws {
        let m = Self.binary(MetricsTests.binaryLabels, MetricsTests.binaryP1)
        let h = try #require(m.scoreHistograms(ofClass: 1))
        let pr = try #require(QualityCurves.precisionRecall(positive: h.positive, negative: h.negative, resolution: 0))
        #expect(abs(pr.averagePrecision - 0.9484126984126984) < 1e-12)
        #expect(pr.points.first == CurvePoint(0, 1))
        #expect(pr.points.last?.x == 1)
        #expect(abs((pr.points.last?.y ?? 0) - 0.5) < 1e-12)  // all rows predicted positive: precision = prevalence
    }

    @Test func oneClassAndEmptyHistogramsGiveNoCurves() {
        var m = MetricsAggregate(classCount: 2)
        for p in [0.2, 0.7, 0.9] { m.add(probabilities: [1 - p, p], trueClass: 1) }
        let h = m.scoreHistograms(ofClass: 1)!
        #expect(QualityCurves.roc(positive: h.positive, negative: h.negative) == nil)  // no negatives
        #expect(QualityCurves.precisionRecall(positive: h.positive, negative: h.negative)?.averagePrecision == 1)
        let zeros = [UInt64](repeating: 0, count: MetricsAggregate.scoreBins)
        #expect(QualityCurves.roc(positive: zeros, negative: zeros) == nil)
        #expect(QualityCurves.precisionRecall(positive: zeros, negative: zeros) == nil)
        #expect(QualityCurves.calibration(positive: zeros, negative: zeros).isEmpty)
        #expect(MetricsAggregate(classCount: 2).scoreHistograms(ofClass: 1) == nil)
    }

    @Test func calibrationMatchesScikitLearn() throws {
        let y = [0, 1, 1, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 1]
        let p = [0.12, 0.83, 0.67, 0.33, 0.41, 0.22, 0.93, 0.57, 0.61, 0.04, 0.72, 0.36, 0.88, 0.45]
        let h = try #require(Self.binary(y, p).scoreHistograms(ofClass: 1))
        let bins = QualityCurves.calibration(positive: h.positive, negative: h.negative, bins: 10)
        let fraction = [0.0, 0, 0, 0, 1, 1, 0.5, 1, 1, 1]
        let mean = [0.04, 0.12, 0.22, 0.345, 0.43, 0.57, 0.64, 0.72, 0.855, 0.93]
        #expect(bins.count == 10)
        for (i, b) in bins.enumerated() {
            #expect(b.fractionPositive == fraction[i])
            #expect(abs(b.meanPredicted - mean[i]) < 1.0 / Double(MetricsAggregate.scoreBins))
        }
        #expect(bins.reduce(0) { $0 + $1.rows } == UInt64(y.count))
    }

    @Test func thinningKeepsEndsAndBoundsThePointCount() {
        let points = (0...10_000).map { CurvePoint(Double($0) / 10_000, sqrt(Double($0) / 10_000)) }
        let thin = QualityCurves.thinned(points, resolution: 1.0 / 100)
        #expect(thin.first == points.first && thin.last == points.last)
        #expect(thin.count <= 2 * 100 + 2)
        #expect(QualityCurves.thinned([CurvePoint(0, 0)], resolution: 0.1).count == 1)
    }

    @Test func regressionHistogramsMergeExactlyAndRoundTrip() throws {
        var rng = ForestRNG(seed: 5)
        var all = RegressionMetrics(histogramLower: 0, upper: 100)
        var parts = [RegressionMetrics(histogramLower: 0, upper: 100), RegressionMetrics(histogramLower: 0, upper: 100)]
        for i in 0..<5000 {
            let actual = Double(rng.next() % 12_000) / 100 - 10  // some outside [0, 100]
            let predicted = min(max(actual + Double(rng.next() % 2000) / 100 - 10, 0), 100)
            all.add(prediction: predicted, actual: actual)
            parts[i % 2].add(prediction: predicted, actual: actual)
        }
        var merged = RegressionMetrics(histogramLower: 0, upper: 100)
        for p in parts { merged.merge(p) }
        let h = try #require(all.histograms)
        let hm = try #require(merged.histograms)
        #expect(h == hm)
        #expect(h.rowCount == 5000 && h.grid.reduce(0, +) == 5000)
        #expect(h.outside > 0)
        var w = ByteWriter()
        EvaluationMetrics.regression(all).write(to: &w)
        var r = ByteReader(w.bytes, context: "test")
        #expect(try EvaluationMetrics.read(from: &r) == .regression(all))
        // Residual bars: symmetric about 0, every row counted.
        let bars = QualityCurves.residualBars(h, maxBars: 40)
        #expect(bars.count <= 40 && !bars.isEmpty)
        #expect(bars.reduce(0) { $0 + $1.count } == 5000)
        #expect(abs(bars.first!.lower + bars.last!.upper) < 1e-9)
    }

    @Test func regressionMetricsVersionOneStillReads() throws {
        var m = RegressionMetrics()
        m.add(prediction: 1, actual: 2)
        m.add(prediction: 3, actual: 2.5)
        var w = ByteWriter()
        w.write(RegressionMetrics.magic)
        w.write(UInt32(1))
        w.write(m.rowCount)
        w.write(m.squaredError)
        w.write(m.absoluteError)
        m.target.write(to: &w)
        var r = ByteReader(w.bytes, context: "v1")
        let old = try RegressionMetrics.read(from: &r)
        #expect(old == m && old.histograms == nil)
        // Merging an old aggregate with rows into one with histograms drops the histograms (they would be incomplete).
        var fresh = RegressionMetrics(histogramLower: 0, upper: 10)
        fresh.add(prediction: 1, actual: 1)
        fresh.merge(old)
        #expect(fresh.histograms == nil && fresh.rowCount == 3)
    }

    @Test func degenerateRangesAreWidened() {
        let constant = RegressionHistograms(lower: 5, upper: 5)
        #expect(constant.lower < 5 && constant.upper > 5)
        let empty = RegressionHistograms(lower: .infinity, upper: -.infinity)  // statistics of no rows
        #expect(empty.lower == 0 && empty.upper == 1)
        var h = RegressionHistograms(lower: 0, upper: 1)
        h.add(prediction: .nan, actual: 2)
        #expect(h.rowCount == 1 && h.outside == 1)
    }

    @Test func permutationImportanceFindsTheFeatureTheLabelDependsOn() throws {
        // Feature 0 decides the class, feature 1 is noise.
        var values: [Double] = []
        var labels: [Int32] = []
        var rng = ForestRNG(seed: 9)
        for _ in 0..<2000 {
            let x0 = Double(rng.next() % 1000) / 1000
            let x1 = Double(rng.next() % 1000) / 1000
            values += [x0, x1]
            labels.append(x0 > 0.5 ? 1 : 0)
        }
        let (_, binned) = try TestData.binned(values: values, labels: labels, features: 2)
        var parameters = ForestParameters()
        parameters.trees = 10
        parameters.maxFeatures = .all
        let trees = try ForestTrainer(parameters: parameters, threads: 1).trainTrees(partition: binned, partitionIndex: 0, range: 0..<10)
        let forest = try TestData.forest(trees)
        let p = PermutationImportance.compute(forest: forest, partition: binned, seed: 1, partitionIndex: 0)
        #expect(p.rowCount == 2000 && p.baselineScore > 0.98)
        #expect(p.importances[0] > 0.3 && abs(p.importances[1]) < 0.02)
        #expect(PermutationImportance.compute(forest: forest, partition: binned, seed: 1, partitionIndex: 0) == p)
        // Merging adds the counts; the bytes round-trip.
        var twice = p
        try twice.merge(p)
        #expect(twice.rowCount == 4000 && twice.importances == p.importances)
        #expect(try PermutationImportance(deserializing: p.serialize()) == p)
        // An evaluate task's result: the metrics, then the permutation importance; metrics alone still decode.
        let metrics = EvaluationMetrics.classification(Self.binary([0, 1], [0.2, 0.9]))
        #expect(EvaluationResult.encode(metrics, permutation: nil) == metrics.serialize())
        let both = try EvaluationResult.decode(EvaluationResult.encode(metrics, permutation: p))
        #expect(both.metrics == metrics && both.permutation == p)
        #expect(try EvaluationResult.decode(metrics.serialize()).permutation == nil)
        #expect(throws: ForestError.self) { try EvaluationResult.decode(metrics.serialize() + [1, 2, 3]) }
        #expect(throws: ForestError.self) { try twice.merge(PermutationImportance(task: .classification, featureCount: 3, repeats: 1)) }
        // A fold evaluate task's out-of-fold predictions follow the metrics (with or without a permutation).
        var oof = OutOfFoldPredictions(width: 2)
        oof.append(lines: [9, 4], fold: 1, predictions: [0.25, 0.75, 1, 0])
        for permutation in [nil, p] {
            let decoded = try EvaluationResult.decode(EvaluationResult.encode(metrics, permutation: permutation, predictions: oof))
            #expect(decoded.metrics == metrics && decoded.permutation == permutation)
            #expect(decoded.predictions?.lines == [9, 4] && decoded.predictions?.folds == [1, 1])
            #expect(decoded.predictions?.values == [0.25, 0.75, 1, 0])
        }
        let cut = EvaluationResult.encode(metrics, permutation: nil, predictions: oof).dropLast(3)
        #expect(throws: ForestError.self) { try EvaluationResult.decode(Array(cut)) }
        // Merged and sorted by line, the rows and their values move together.
        var merged = OutOfFoldPredictions(width: 2)
        try merged.append(oof)
        merged.append(lines: [6], fold: 0, predictions: [0.5, 0.5])
        merged.sort()
        #expect(merged.lines == [4, 6, 9] && merged.folds == [1, 0, 1] && merged.values == [1, 0, 0.5, 0.5, 0.25, 0.75])
        #expect(throws: ForestError.self) { try merged.append(OutOfFoldPredictions(width: 3)) }
    }
}
