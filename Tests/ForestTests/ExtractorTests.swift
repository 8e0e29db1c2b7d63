import Foundation
import Testing

@testable import Forest

@Suite struct ExtractorTests {
    static func partialStates(_ parts: Int, rows: Int = 2000, seed: UInt64 = 3) -> [PartialExtractorState] {
        var rng = ForestRNG(seed: seed)
        var states = Array(repeating: PartialExtractorState(featureNames: ["a", "b", "c"]), count: parts)
        for r in 0..<rows {
            let a = rng.nextUnit() * 100 - 50  // continuous
            let b = Double(rng.nextInt(below: 7))  // few distinct values
            let c = r % 13 == 0 ? Double.nan : exp(rng.nextUnit() * 20)  // skewed, with missing
            states[rng.nextInt(below: parts)].add([a, b, c], label: r % 3 == 0 ? "x" : "y")
        }
        return states
    }

    @Test func mergeIsAssociativeAndCommutative() throws {
        let s = Self.partialStates(4)
        func m(_ x: PartialExtractorState, _ y: PartialExtractorState) throws -> PartialExtractorState {
            var r = x
            try r.merge(y)
            return r
        }
        let leftFold = try m(m(m(s[0], s[1]), s[2]), s[3])
        let rightFold = try m(s[0], m(s[1], m(s[2], s[3])))
        let pairs = try m(m(s[0], s[2]), m(s[3], s[1]))
        let reversed = try PartialExtractorState.merged(s.reversed())
        for other in [rightFold, pairs, reversed] {
            #expect(other.sketches == leftFold.sketches)
            #expect(other.target == leftFold.target)
            #expect(other.rowCount == leftFold.rowCount)
            for f in 0..<3 {
                #expect(other.statistics[f].count == leftFold.statistics[f].count)
                #expect(other.statistics[f].missing == leftFold.statistics[f].missing)
                #expect(other.statistics[f].minimum == leftFold.statistics[f].minimum)
                #expect(abs(other.statistics[f].mean - leftFold.statistics[f].mean) <= 1e-9 * max(1, abs(leftFold.statistics[f].mean)))
            }
            #expect(try FeatureExtractor.fit(from: other).edges == FeatureExtractor.fit(from: leftFold).edges)
        }
    }

    @Test func mergedStatisticsMatchOnePass() throws {
        let s = Self.partialStates(5)
        let merged = try PartialExtractorState.merged(s)
        var rng = ForestRNG(seed: 3)
        var single = FeatureStatistics()
        for r in 0..<2000 {
            let a = rng.nextUnit() * 100 - 50
            _ = rng.nextInt(below: 7)
            if r % 13 != 0 { _ = rng.nextUnit() }
            _ = rng.nextInt(below: 5)
            single.add(a)
        }
        #expect(merged.statistics[0].count == 2000)
        #expect(abs(merged.statistics[0].mean - single.mean) < 1e-9)
        #expect(abs(merged.statistics[0].variance - single.variance) < 1e-6)
        #expect(merged.statistics[2].missing == UInt64((0..<2000).filter { $0 % 13 == 0 }.count))
    }

    @Test func edgesAreQuantilesWithinTheSketchBound() throws {
        var state = PartialExtractorState(featureNames: ["x"])
        var rng = ForestRNG(seed: 11)
        var values: [Double] = []
        for _ in 0..<20_000 {
            let v = rng.nextUnit() * 1000 + 1
            values.append(v)
            state.add([v], label: "a")
        }
        state.add([5], label: "b")
        let e = try FeatureExtractor.fit(from: state)
        let edges = e.edges[0]
        #expect(edges.count == 254)
        values.sort()
        // Each bin holds about n/255 rows: check every bin's count within bucket granularity.
        var counts = [Int](repeating: 0, count: 255)
        for v in values { counts[Int(e.bin(v, feature: 0))] += 1 }
        let expected = Double(values.count) / 255
        // A bucket spans at most 2^-7 relative width: for uniform values on [1, 1001] that is
        // at most ~1001/128 wide, i.e. ~156 rows per bucket.
        for c in counts { #expect(Double(c) < expected + 160 && Double(c) > expected - 160) }
        #expect(e.bin(.nan, feature: 0) == FeatureExtractor.missingBin)
    }

    @Test func binningMatchesThresholds() throws {
        let s = try PartialExtractorState.merged(Self.partialStates(2))
        let e = try FeatureExtractor.fit(from: s)
        var rng = ForestRNG(seed: 5)
        for f in 0..<3 {
            let t = e.thresholds(feature: f)
            for _ in 0..<2000 {
                let x = f == 1 ? Double(rng.nextInt(below: 9)) - 1 : rng.nextUnit() * 200 - 100
                let b = Int(e.bin(x, feature: f))
                // bin(x) <= b  <=>  x <= threshold[b]
                #expect(x <= t[b])
                if b > 0 { #expect(x > t[b - 1]) }
            }
        }
        // Few distinct values: every value gets its own bin.
        #expect(e.edges[1].count == 6)
    }

    @Test func transformEqualsRowByRowBinning() throws {
        let e = try FeatureExtractor.fit(from: PartialExtractorState.merged(Self.partialStates(2)))
        var rng = ForestRNG(seed: 8)
        var values: [Double] = []
        var labels: [Int32] = []
        for r in 0..<500 {
            var row = [rng.nextUnit() * 120 - 60, Double(rng.nextInt(below: 9)) - 1, exp(rng.nextUnit() * 22)]
            if r % 7 == 0 { row[r % 3] = .nan }
            if r % 11 == 0, let edge = e.edges[0].randomElement(using: &rng) { row[0] = edge }  // exactly on an edge
            values += row
            labels.append(Int32(r % 2))
        }
        let a = e.transform(rowMajor: values, labels: labels)
        for r in 0..<500 { for f in 0..<3 { #expect(a.bins[f * 500 + r] == e.bin(values[r * 3 + f], feature: f)) } }
        #expect(a.labels == labels)
        // The block-parallel binner gives the same partition whatever the threads and block size.
        for (threads, blockRows) in [(1, 7), (2, 64), (3, 500), (2, 4096)] {
            let b = FeatureBinner.bin(extractor: e, rowCount: 500, threads: threads, blockRows: blockRows) { append in
                values.withUnsafeBufferPointer { v in
                    for r in 0..<500 { append(UnsafeBufferPointer(rebasing: v[r * 3..<(r + 1) * 3]), Double(labels[r])) }
                }
            }
            #expect(b.bins == a.bins, "threads \(threads), block \(blockRows)")
            #expect(b.labels == a.labels)
        }
    }

    @Test func constantFeatureIsFlagged() throws {
        var state = PartialExtractorState(featureNames: ["k", "v"])
        for i in 0..<100 { state.add([3.5, Double(i)], label: i % 2 == 0 ? "a" : "b") }
        let e = try FeatureExtractor.fit(from: state)
        #expect(e.constantFeatures == [true, false])
    }

    @Test func statesRoundTripAndRejectCorruption() throws {
        let s = try PartialExtractorState.merged(Self.partialStates(3))
        let bytes = s.serialize()
        #expect(try PartialExtractorState(deserializing: bytes) == s)
        #expect(throws: ForestError.self) { try PartialExtractorState(deserializing: Array(bytes.dropLast(3))) }
        var wrongVersion = bytes
        wrongVersion[4] = 9
        #expect(throws: ForestError.self) { try PartialExtractorState(deserializing: wrongVersion) }
        let e = try FeatureExtractor.fit(from: s)
        #expect(try FeatureExtractor(deserializing: e.serialize()) == e)
    }

    @Test func labelsSortNumericallyWhenNumeric() {
        #expect(FeatureExtractor.sortLabels(["10", "9", "2"]) == ["2", "9", "10"])
        #expect(FeatureExtractor.sortLabels(["b", "a", "10"]) == ["10", "a", "b"])
    }

    @Test func mergeRejectsDifferentFeatures() {
        var a = PartialExtractorState(featureNames: ["x"])
        #expect(throws: ForestError.self) { try a.merge(PartialExtractorState(featureNames: ["y"])) }
    }
}
