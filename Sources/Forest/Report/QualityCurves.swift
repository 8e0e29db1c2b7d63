/// A point of a curve (ROC: false positive rate, true positive rate; precision–recall:
/// recall, precision).
public struct CurvePoint: Sendable, Equatable, Codable {
    public var x: Double
    public var y: Double
    public init(_ x: Double, _ y: Double) {
        self.x = x
        self.y = y
    }
}

/// One bin of a calibration (reliability) curve.
public struct CalibrationBin: Sendable, Equatable, Codable {
    /// The mean predicted probability of the bin's rows.
    public var meanPredicted: Double
    /// The share of the bin's rows that are positives.
    public var fractionPositive: Double
    public var rows: UInt64
}

/// One bar of a 1-D histogram: `[lower, upper)` holding `count` rows.
public struct HistogramBar: Sendable, Equatable, Codable {
    public var lower: Double
    public var upper: Double
    public var count: UInt64
}

/// Model-quality curves computed from the mergeable aggregates only (the score
/// histograms of ``MetricsAggregate``, the ``RegressionHistograms``), so their size
/// depends on the bin counts, never on the number of rows.
public enum QualityCurves {
    /// Cumulative (true positives, false positives) when the threshold steps down through
    /// the score bins, one entry per non-empty bin, from the highest scores.
    static func sweep(positive: [UInt64], negative: [UInt64]) -> [(tp: Double, fp: Double)] {
        var tp = 0.0
        var fp = 0.0
        var out: [(tp: Double, fp: Double)] = []
        for b in stride(from: min(positive.count, negative.count) - 1, through: 0, by: -1) where positive[b] + negative[b] > 0 {
            tp += Double(positive[b])
            fp += Double(negative[b])
            out.append((tp, fp))
        }
        return out
    }

    /// Keeps the first and last point and every point at least `resolution` away (in x or y)
    /// from the last one kept: at most about 2 / `resolution` points whatever the bin count.
    public static func thinned(_ points: [CurvePoint], resolution: Double) -> [CurvePoint] {
        guard points.count > 2, resolution > 0 else { return points }
        var out = [points[0]]
        for p in points.dropFirst().dropLast() {
            let last = out[out.count - 1]
            if abs(p.x - last.x) >= resolution || abs(p.y - last.y) >= resolution { out.append(p) }
        }
        out.append(points[points.count - 1])
        return out
    }

    /// The ROC curve (false positive rate, true positive rate) from (0, 0) to (1, 1); within a
    /// bin the curve is straight (ties count half, as in ``MetricsAggregate/auc(ofClass:)``).
    /// Nil without positives or without negatives.
    public static func roc(positive: [UInt64], negative: [UInt64], resolution: Double = 1.0 / 400) -> [CurvePoint]? {
        let steps = sweep(positive: positive, negative: negative)
        guard let total = steps.last, total.tp > 0, total.fp > 0 else { return nil }
        let points = [CurvePoint(0, 0)] + steps.map { CurvePoint($0.fp / total.fp, $0.tp / total.tp) }
        return thinned(points, resolution: resolution)
    }

    /// The precision–recall curve (recall, precision), starting at (0, 1), and the average
    /// precision Σ (R_k − R_{k−1}) · P_k over the score bins. Nil without positives.
    public static func precisionRecall(
        positive: [UInt64], negative: [UInt64],
        resolution: Double = 1.0 / 400
    ) -> (points: [CurvePoint], averagePrecision: Double)? {
        let steps = sweep(positive: positive, negative: negative)
        guard let total = steps.last, total.tp > 0 else { return nil }
        var points = [CurvePoint(0, 1)]
        var ap = 0.0
        var lastRecall = 0.0
        for s in steps {
            let recall = s.tp / total.tp
            let precision = s.tp / (s.tp + s.fp)
            ap += (recall - lastRecall) * precision
            lastRecall = recall
            points.append(CurvePoint(recall, precision))
        }
        return (thinned(points, resolution: resolution), ap)
    }

    /// The calibration curve: the score range cut into `bins` equal bins; per non-empty bin
    /// the rows' mean predicted probability (bin midpoints of the fine histogram) and the
    /// share of positives.
    public static func calibration(positive: [UInt64], negative: [UInt64], bins: Int = 10) -> [CalibrationBin] {
        let fine = min(positive.count, negative.count)
        guard fine > 0, bins > 0 else { return [] }
        var rows = [Double](repeating: 0, count: bins)
        var pos = [Double](repeating: 0, count: bins)
        var score = [Double](repeating: 0, count: bins)
        for b in 0..<fine where positive[b] + negative[b] > 0 {
            let g = min(b * bins / fine, bins - 1)
            let n = Double(positive[b] + negative[b])
            rows[g] += n
            pos[g] += Double(positive[b])
            score[g] += n * (Double(b) + 0.5) / Double(fine)
        }
        return (0..<bins).filter { rows[$0] > 0 }.map {
            CalibrationBin(meanPredicted: score[$0] / rows[$0], fractionPositive: pos[$0] / rows[$0], rows: UInt64(rows[$0]))
        }
    }

    /// The residual histogram coarsened to at most `maxBars` equal bars over the smallest
    /// range symmetric about 0 that holds every non-empty bin. Empty without rows.
    public static func residualBars(_ h: RegressionHistograms, maxBars: Int = 60) -> [HistogramBar] {
        let counts = h.residuals
        guard let first = counts.firstIndex(where: { $0 > 0 }), let last = counts.lastIndex(where: { $0 > 0 }), maxBars > 0 else {
            return []
        }
        let center = RegressionHistograms.residualBins / 2
        var half = max(center - first, last + 1 - center, 1)
        let width = max(1, (2 * half + maxBars - 1) / maxBars)
        half = (half + width - 1) / width * width
        let lo = max(0, center - half)
        let hi = min(counts.count, center + half)
        return stride(from: lo, to: hi, by: width).map { start in
            let end = min(start + width, hi)
            return HistogramBar(lower: h.residualEdge(start), upper: h.residualEdge(end), count: counts[start..<end].reduce(0, +))
        }
    }
}
