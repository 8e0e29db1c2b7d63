import Testing

@testable import Forest

/// Expected values computed once with scikit-learn 1.x (accuracy_score,
/// balanced_accuracy_score, roc_auc_score [multi_class="ovr", average="macro"], log_loss,
/// precision_recall_fscore_support [zero_division=0], confusion_matrix).
@Suite struct MetricsTests {
    static let binaryLabels = [0, 1, 1, 0, 1, 0, 1, 1, 0, 0, 1, 0]
    static let binaryP1 = [0.1, 0.8, 0.65, 0.3, 0.4, 0.2, 0.9, 0.55, 0.6, 0.05, 0.7, 0.35]
    static let multiLabels = [0, 1, 2, 2, 1, 0, 2, 1, 0, 2]
    static let multiP: [[Double]] = [
        [0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6], [0.3, 0.4, 0.3], [0.25, 0.25, 0.5],
        [0.5, 0.3, 0.2], [0.2, 0.2, 0.6], [0.1, 0.8, 0.1], [0.4, 0.35, 0.25], [0.3, 0.3, 0.4]
    ]

    @Test func binaryMatchesScikitLearn() {
        var m = MetricsAggregate(classCount: 2)
        for (y, p) in zip(Self.binaryLabels, Self.binaryP1) { m.add(probabilities: [1 - p, p], trueClass: y) }
        #expect(abs(m.accuracy - 0.8333333333333334) < 1e-12)
        #expect(abs(m.balancedAccuracy - 0.8333333333333334) < 1e-12)
        #expect(abs(m.auc - 0.9444444444444444) < 1e-9)
        #expect(abs(m.logLoss - 0.39280296774149387) < 1e-6)
        #expect(m.confusionMatrix == [[5, 1], [1, 5]])
        for c in m.perClass {
            #expect(abs(c.precision - 0.8333333333333334) < 1e-12)
            #expect(abs(c.recall - 0.8333333333333334) < 1e-12)
            #expect(abs(c.f1 - 0.8333333333333334) < 1e-12)
            #expect(c.support == 6)
        }
    }

    @Test func multiclassMatchesScikitLearn() {
        var m = MetricsAggregate(classCount: 3)
        for (y, p) in zip(Self.multiLabels, Self.multiP) { m.add(probabilities: p, trueClass: y) }
        #expect(abs(m.accuracy - 0.8) < 1e-12)
        #expect(abs(m.balancedAccuracy - 0.8055555555555555) < 1e-12)
        #expect(abs(m.auc - 0.8859126984126985) < 1e-9)
        #expect(abs(m.logLoss - 0.7410612733098951) < 1e-6)
        #expect(m.confusionMatrix == [[3, 0, 0], [0, 2, 1], [0, 1, 3]])
        let pc = m.perClass
        let precision = [1.0, 0.6666666666666666, 0.75]
        let recall = [1.0, 0.6666666666666666, 0.75]
        let f1 = [1.0, 0.6666666666666666, 0.75]
        let support: [UInt64] = [3, 3, 4]
        for c in 0..<3 {
            #expect(abs(pc[c].precision - precision[c]) < 1e-12)
            #expect(abs(pc[c].recall - recall[c]) < 1e-12)
            #expect(abs(pc[c].f1 - f1[c]) < 1e-12)
            #expect(pc[c].support == support[c])
        }
    }

    @Test func mergeEqualsOnePassAndRoundTrips() throws {
        var all = MetricsAggregate(classCount: 3)
        var parts = [MetricsAggregate](repeating: MetricsAggregate(classCount: 3), count: 3)
        for (i, (y, p)) in zip(Self.multiLabels, Self.multiP).enumerated() {
            all.add(probabilities: p, trueClass: y)
            parts[i % 3].add(probabilities: p, trueClass: y)
        }
        var merged = parts[2]
        try merged.merge(parts[0])
        try merged.merge(parts[1])
        #expect(merged == all)
        #expect(try MetricsAggregate(deserializing: merged.serialize()) == all)
        #expect(throws: ForestError.self) { try merged.merge(MetricsAggregate(classCount: 2)) }
    }

    /// Histogram AUC against the exact (sorted) AUC on many distinct scores.
    @Test func histogramAUCMatchesExact() {
        var rng = ForestRNG(seed: 9)
        var m = MetricsAggregate(classCount: 2)
        var scored: [(Double, Int)] = []
        for _ in 0..<20_000 {
            let y = rng.nextInt(below: 2)
            let s = min(1, max(0, 0.5 + (Double(y) - 0.5) * 0.3 + (rng.nextUnit() - 0.5) * 0.9))
            let rounded = (s * 100).rounded() / 100  // forest-like ties
            let score = rng.nextInt(below: 2) == 0 ? s : rounded
            m.add(probabilities: [1 - score, score], trueClass: y)
            scored.append((score, y))
        }
        scored.sort { $0.0 < $1.0 }
        var negBelow = 0.0
        var area = 0.0
        var i = 0
        let positives = Double(scored.filter { $0.1 == 1 }.count)
        while i < scored.count {
            var j = i
            var p = 0.0
            var n = 0.0
            while j < scored.count && scored[j].0 == scored[i].0 {
                if scored[j].1 == 1 { p += 1 } else { n += 1 }
                j += 1
            }
            area += p * (negBelow + n / 2)
            negBelow += n
            i = j
        }
        let exact = area / (positives * negBelow)
        #expect(abs(m.auc - exact) < 1e-3)
    }
}
