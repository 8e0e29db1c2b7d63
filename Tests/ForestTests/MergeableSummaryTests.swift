import Foundation
import Testing

@testable import Forest

/// Mergeable summaries merged in partition order equal the single-pass result under any partitioning.
@Suite struct MergeableSummaryTests {
    /// Splits `0..<n` into `parts` contiguous, possibly empty, ranges at random cut points.
    static func randomRanges(_ n: Int, parts: Int, rng: inout ForestRNG) -> [Range<Int>] {
        let cuts = ((0..<(parts - 1)).map { _ in rng.nextInt(below: n + 1) } + [0, n]).sorted()
        return zip(cuts, cuts.dropFirst()).map { $0..<$1 }
    }

    /// A row's level, or nil for a missing value.
    static func levels(rows: Int, distinct: Int, rng: inout ForestRNG) -> [String?] {
        (0..<rows).map { _ in
            if rng.nextInt(below: 10) == 0 { return nil }
            // Skewed: low indices are frequent.
            let u = rng.nextUnit()
            return "level-\(Int(u * u * Double(distinct)))"
        }
    }

    static func counts(_ levels: ArraySlice<String?>) -> LevelCounts {
        var c = LevelCounts()
        for l in levels { if let l { c.add(l) } else { c.addMissing() } }
        return c
    }

    @Test func levelCountsMergeExactlyUnderAnyPartitioning() throws {
        var rng = ForestRNG(seed: 77)
        for trial in 0..<40 {
            let distinct = [1, 5, 60, 700, LevelCounts.overflow][trial % 5]
            let rows = 1 + rng.nextInt(below: 20_000)
            let data = Self.levels(rows: rows, distinct: distinct, rng: &rng)
            let single = Self.counts(data[...])
            #expect(!single.isApproximate)
            var truth: [String: UInt64] = [:]
            for case let l? in data { truth[l, default: 0] += 1 }
            #expect(single.trackedCount == truth.count)
            for (l, c) in truth { #expect(single.count(of: l) == c) }
            #expect(single.present + single.missing == UInt64(rows))
            for parts in 1...5 {
                let ranges = Self.randomRanges(rows, parts: parts, rng: &rng)
                var merged = Self.counts(data[ranges[0]])
                for r in ranges.dropFirst() { merged.merge(Self.counts(data[r])) }
                #expect(merged == single, "trial \(trial), \(parts) parts")
                #expect(merged.ranked.map(\.name) == single.ranked.map(\.name))
                // And through the wire format.
                var w = ByteWriter()
                merged.write(to: &w)
                var r = ByteReader(w.bytes, context: "test")
                #expect(try LevelCounts.read(from: &r) == single)
            }
        }
    }

    /// More than ``LevelCounts/overflow`` distinct levels: the Misra–Gries guarantee holds
    /// for one pass and for any merge of partition summaries — every level with more than
    /// `rows / (capacity + 1)` rows is kept, and no kept count is more than that below the truth.
    @Test func misraGriesGuaranteeHoldsBeyondTheOverflow() {
        var rng = ForestRNG(seed: 78)
        var data: [String] = []
        // 30 heavy levels, 200 medium ones, 30,000 singletons; shuffled.
        for h in 0..<30 { data += Array(repeating: "heavy-\(h)", count: 500 + 40 * h) }
        for m in 0..<200 { data += Array(repeating: "medium-\(m)", count: 10 + m % 60) }
        for s in 0..<30_000 { data.append("single-\(s)") }
        data.shuffle(using: &rng)
        var truth: [String: UInt64] = [:]
        for l in data { truth[l, default: 0] += 1 }
        let bound = Double(data.count) / Double(LevelCounts.capacity + 1)
        func check(_ c: LevelCounts, _ context: String) {
            #expect(c.isApproximate, "\(context)")
            #expect(c.present == UInt64(data.count), "\(context)")
            #expect(c.trackedCount <= LevelCounts.overflow, "\(context)")
            for (l, n) in truth {
                let kept = c.count(of: l)
                #expect(kept <= n, "\(context): \(l) overcounted")
                #expect(Double(n - kept) <= bound, "\(context): \(l) undercounted by \(n - kept) > \(bound)")
                if Double(n) > bound { #expect(kept > 0, "\(context): \(l) (\(n) rows) dropped") }
            }
        }
        let slice = data.map { Optional($0) }
        check(Self.counts(slice[...]), "one pass")
        for parts in 2...5 {
            let ranges = Self.randomRanges(data.count, parts: parts, rng: &rng)
            var merged = Self.counts(slice[ranges[0]])
            for r in ranges.dropFirst() { merged.merge(Self.counts(slice[r])) }
            check(merged, "\(parts) parts")
        }
    }

    @Test func regressionMetricsMergeUnderAnyPartitioning() throws {
        var rng = ForestRNG(seed: 79)
        for trial in 0..<60 {
            let rows = 1 + rng.nextInt(below: 5000)
            let scale = [1e-3, 1, 1e6][trial % 3]
            var actual: [Double] = []
            var predicted: [Double] = []
            for _ in 0..<rows {
                let y = (rng.nextUnit() * 10 - 3) * scale
                actual.append(y)
                predicted.append(y + (rng.nextUnit() - 0.5) * scale)
            }
            var single = RegressionMetrics()
            single.add(predictions: predicted, actual: actual)
            // Direct definitions.
            let mean = actual.reduce(0, +) / Double(rows)
            let sse = zip(actual, predicted).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
            let sst = actual.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
            let mae = zip(actual, predicted).reduce(0) { $0 + abs($1.0 - $1.1) } / Double(rows)
            #expect(TestData.close(single.rmse, (sse / Double(rows)).squareRoot()))
            #expect(TestData.close(single.mae, mae))
            if sst > 0 { #expect(TestData.close(single.r2, 1 - sse / sst), "trial \(trial)") }
            for parts in 1...5 {
                let ranges = Self.randomRanges(rows, parts: parts, rng: &rng)
                var merged = EvaluationMetrics.regression(RegressionMetrics())
                for r in ranges {
                    var part = EvaluationMetrics.regression(RegressionMetrics())
                    part.add(predictions: Array(predicted[r]), target: .values(Array(actual[r])))
                    try merged.merge(part)
                }
                let m = try #require(merged.regression)
                #expect(m.rowCount == single.rowCount)
                #expect(TestData.close(m.squaredError, single.squaredError))
                #expect(TestData.close(m.absoluteError, single.absoluteError))
                #expect(TestData.close(m.r2, single.r2), "trial \(trial), \(parts) parts: \(m.r2) vs \(single.r2)")
                #expect(TestData.close(m.rmse, single.rmse) && TestData.close(m.mae, single.mae))
                let back = try EvaluationMetrics(deserializing: merged.serialize())
                #expect(back == merged)
            }
        }
        // Classification and regression metrics do not merge.
        var r = EvaluationMetrics.regression(RegressionMetrics())
        #expect(throws: ForestError.self) { try r.merge(.classification(MetricsAggregate(classCount: 2))) }
    }
}
