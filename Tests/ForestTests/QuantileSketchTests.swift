import Testing

@testable import Forest

@Suite struct QuantileSketchTests {
    @Test func fewDistinctValuesGetMidpointEdges() {
        var s = QuantileSketch()
        for v in [3.0, 1.0, 2.5, 1.0, 7.0, 2.5, -0.0, 0.0] { s.add(v) }
        #expect(s.binEdges(maxBins: 255) == [0.5, 1.75, 2.75, 5.0])
        s.compact()
        #expect(s.isExact)
        #expect(s.values == [0, 1, 2.5, 3, 7])
        #expect(s.counts == [2, 2, 2, 1, 1])
    }

    @Test func midpointStaysStrictlyBetweenOrFallsBackToTheLowerValue() {
        #expect(QuantileSketch.midpoint(1, 3) == 2)
        #expect(QuantileSketch.midpoint(1, 1.0.nextUp) == 1)
        #expect(QuantileSketch.midpoint(5, .infinity) == 5)
        #expect(QuantileSketch.midpoint(-.infinity, 0) == -.infinity)
        #expect(QuantileSketch.midpoint(-Double.greatestFiniteMagnitude, .greatestFiniteMagnitude) == 0)
        var s = QuantileSketch()
        for v in [-Double.infinity, 1, .infinity] { s.add(v) }
        let e = s.binEdges(maxBins: 255)
        #expect(e == [-.infinity, 1])
    }

    @Test func moreDistinctValuesThanBinsShareBinsByFrequency() {
        var s = QuantileSketch()
        for i in 0..<600 { s.add(Double(i)) }
        #expect(s.isExact)
        let e = s.binEdges(maxBins: 255)
        #expect(e.count == 254)
        #expect(zip(e, e.dropFirst()).allSatisfy { $0 < $1 })
        // Every edge falls midway between two consecutive integers.
        #expect(e.allSatisfy { $0 - $0.rounded(.down) == 0.5 })
    }

    @Test func turnsIntoBucketsPastTheCapacityWhateverThePartitioning() {
        let n = QuantileSketch.exactCapacity + 200
        var single = QuantileSketch()
        var parts = Array(repeating: QuantileSketch(), count: 3)
        var rng = ForestRNG(seed: 4)
        for i in 0..<n {
            let v = Double(i) * 0.37 + 1
            single.add(v)
            parts[rng.nextInt(below: 3)].add(v)
        }
        for p in parts {
            var c = p
            c.compact()
            #expect(c.isExact)
        }
        var merged = parts[2]
        merged.merge(parts[0])
        merged.merge(parts[1])
        single.compact()
        merged.compact()
        #expect(!single.isExact)
        #expect(merged == single)
        #expect(merged.binEdges(maxBins: 255) == single.binEdges(maxBins: 255))
        #expect(single.totalCount == UInt64(n))
    }

    @Test func bucketAndExactStatesMerge() {
        var big = QuantileSketch()
        var small = QuantileSketch()
        var all = QuantileSketch()
        for i in 0..<(QuantileSketch.exactCapacity + 1) {
            big.add(Double(i))
            all.add(Double(i))
        }
        for v in [0.5, 2.25, 1e6] {
            small.add(v)
            all.add(v)
        }
        var a = big
        a.merge(small)
        var b = small
        b.merge(big)
        all.compact()
        #expect(a == all)
        #expect(b == all)
    }

    @Test func serializesBothModes() throws {
        var exact = QuantileSketch()
        var buckets = QuantileSketch()
        for v in [1.0, 2, 2, 9] { exact.add(v) }
        for i in 0..<3000 { buckets.add(Double(i) * 1.1) }
        for s in [exact, buckets, QuantileSketch()] {
            var w = ByteWriter()
            s.write(to: &w)
            var r = ByteReader(w.bytes, context: "sketch")
            let back = try QuantileSketch.read(from: &r)
            #expect(back == s)
            #expect(back.binEdges(maxBins: 255) == s.binEdges(maxBins: 255))
        }
    }

    @Test func refusesUnsortedExactValues() {
        var w = ByteWriter()
        w.write(UInt8(1))
        w.write(array: [2.0, 1.0])
        w.write(array: [UInt64(1), 1])
        var r = ByteReader(w.bytes, context: "sketch")
        #expect(throws: ForestError.self) { try QuantileSketch.read(from: &r) }
    }
}
