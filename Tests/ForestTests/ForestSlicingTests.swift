import Foundation
import SpaceTime
import Testing

@testable import Forest

/// Tree-sharded scoring: the partial sums of any slicing of a forest, each slice loaded
/// from its own serialized `ForestModelSlice`, combine into the whole forest's predictions
/// bit for bit (classification and regression, one and several partitions).
struct ForestSlicingTests {
    /// A forest and binned rows to score with it.
    struct Case {
        let name: String
        let model: ForestModel
        let test: BinnedPartition
    }

    /// Partitions of `rows` rows each trained with `trees[p]` trees and merged by rows.
    static func classification(rows: [Int], trees: [Int], classes: Int = 2, seed: UInt64) throws -> Case {
        let d = 6
        let total = rows.reduce(0, +)
        let data = try TestData.synthetic(rows: total + 400, features: d, classes: classes, seed: seed, flipY: 0.1)
        let (extractor, _) = try TestData.binned(values: data.values, labels: data.labels, features: d)
        let lookup = extractor.classLookup()
        func part(_ range: Range<Int>) -> BinnedPartition {
            extractor.transform(
                rowMajor: Array(data.values[range.lowerBound * d..<range.upperBound * d]),
                labels: data.labels[range].map { lookup[String($0)]! })
        }
        var params = ForestParameters()
        params.trees = trees.reduce(0, +)
        let trainer = ForestTrainer(parameters: params, threads: 2)
        var subs: [RandomForest.SubForest] = []
        var start = 0
        for (p, n) in rows.enumerated() {
            let binned = part(start..<start + n)
            subs.append(.init(trees: try trainer.trainTrees(partition: binned, partitionIndex: p, range: 0..<trees[p]), trainingRows: n))
            start += n
        }
        let forest = try RandomForest.merge(subs, task: .classification)
        return Case(
            name: "classification \(rows) \(trees)", model: try TestData.forestModel(extractor, forest, params),
            test: part(total..<total + 400))
    }

    static func regression(rows: [Int], trees: [Int], seed: UInt64) throws -> Case {
        let d = 4
        let total = rows.reduce(0, +) + 300
        var rng = SplitMix64(seed: seed)
        var values: [Double] = []
        var y: [Double] = []
        for _ in 0..<total {
            let x = (0..<d).map { _ in Double(rng.next() % 10_000) / 1000 }
            values += x
            y.append(x[0] * x[0] - 3 * x[1] + sin(x[2]) + Double(rng.next() % 100) / 50)
        }
        let (extractor, _) = try TestData.binnedRegression(values: values, targets: y, features: d)
        func part(_ range: Range<Int>) -> BinnedPartition {
            extractor.transform(rowMajor: Array(values[range.lowerBound * d..<range.upperBound * d]), target: .values(Array(y[range])))
        }
        var params = ForestParameters()
        params.trees = trees.reduce(0, +)
        let trainer = ForestTrainer(parameters: params, threads: 2)
        var subs: [RandomForest.SubForest] = []
        var start = 0
        for (p, n) in rows.enumerated() {
            subs.append(
                .init(
                    trees: try trainer.trainTrees(partition: part(start..<start + n), partitionIndex: p, range: 0..<trees[p]),
                    trainingRows: n))
            start += n
        }
        let forest = try RandomForest.merge(subs, task: .regression)
        return Case(
            name: "regression \(rows) \(trees)", model: try TestData.forestModel(extractor, forest, params),
            test: part(start..<total))
    }

    static func cases() throws -> [Case] {
        [
            try classification(rows: [900], trees: [37], seed: 3),
            try classification(rows: [500, 1100, 700], trees: [7, 20, 5], classes: 3, seed: 4),
            try classification(rows: [600, 600], trees: [1, 18], seed: 5),
            try regression(rows: [800], trees: [21], seed: 6),
            try regression(rows: [400, 900], trees: [12, 3], seed: 7)
        ]
    }

    /// Random cuts among the layout's boundaries.
    static func randomSlicing(_ layout: ForestScoringLayout, _ rng: inout SplitMix64) -> [Range<Int>] {
        let inner = layout.boundaries.dropFirst().dropLast()
        let cuts = [0] + inner.filter { _ in rng.next() % 3 == 0 } + [layout.treeCount]
        return (0..<(cuts.count - 1)).map { cuts[$0]..<cuts[$0 + 1] }
    }

    @Test func anySlicingCombinesToTheWholeForestsBits() throws {
        var rng = SplitMix64(seed: 11)
        for c in try Self.cases() {
            let whole = c.model.forest.predict(binned: c.test, threads: 2)
            #expect(whole == c.model.forest.predict(binned: c.test, threads: 1), "\(c.name): threads")
            let layout = ForestScoringLayout(c.model.forest)
            var slicings = (0..<25).map { _ in Self.randomSlicing(layout, &rng) }
            slicings += [[0..<layout.treeCount], layout.slices(count: 2), layout.slices(count: 3), layout.slices(count: 7)]
            for slicing in slicings {
                // Each slice as a worker holds it: serialized alone, decoded, scored.
                var partials: [(pieces: [Int], values: [Double])] = []
                for range in slicing {
                    let blob = try ForestModelSlice(c.model, trees: range).serialize()
                    #expect(ForestModelSlice.isSlice(blob))
                    let slice = try ForestModelSlice(deserializing: blob)
                    #expect(slice.model.forest.trees.count == range.count)
                    let values = slice.slice.partialSums(binned: c.test, threads: Int(rng.next() % 3) + 1)
                    #expect(values.count == c.test.rowCount * slice.slice.valuesPerRow)
                    partials.append((slice.slice.pieces, values))
                }
                partials.shuffle(using: &rng)
                let combined = try Self.combine(layout, partials, rows: c.test.rowCount)
                #expect(combined.map(\.bitPattern) == whole.map(\.bitPattern), "\(c.name): slicing \(slicing)")
            }
        }
    }

    static func combine(_ layout: ForestScoringLayout, _ partials: [(pieces: [Int], values: [Double])], rows: Int) throws -> [Double] {
        func go(_ i: Int, _ acc: [(pieces: [Int], values: UnsafeBufferPointer<Double>)]) throws -> [Double] {
            if i == partials.count { return try layout.combine(slices: acc, rows: rows) }
            return try partials[i].values.withUnsafeBufferPointer { try go(i + 1, acc + [(partials[i].pieces, $0)]) }
        }
        return try go(0, [])
    }

    /// The grouping is fixed: segments of a run, pairwise sums, one division per run.
    @Test func layoutShape() throws {
        let single = try ForestScoringLayout(task: .classification, outputWidth: 2, treeWeights: Array(repeating: 0.01, count: 100))
        #expect(single.boundaries.count == 17)
        #expect(single.boundaries.prefix(3) == [0, 7, 14])  // 100 = 4 × 7 + 12 × 6
        #expect(single.slices(count: 2) == [0..<52, 52..<100])
        // Halves of a 16-segment run are single nodes; a slice of everything is the root.
        #expect(try single.pieces(covering: 0..<52).count == 1)
        #expect(try single.pieces(covering: 52..<100).count == 1)
        #expect(try single.pieces(covering: 0..<100).count == 1)
        #expect(try single.pieces(covering: 7..<52).count == 3)  // segment 1, segments 2–3, segments 4–7
        #expect(throws: ForestError.self) { try single.pieces(covering: 0..<50) }
        #expect(throws: ForestError.self) { try single.pieces(covering: 0..<101) }
        #expect(throws: ForestError.self) { try single.pieces(covering: 5..<5) }
        let three = single.slices(count: 3)
        #expect(three.first?.lowerBound == 0 && three.last?.upperBound == 100 && three.count == 3)
        #expect(zip(three, three.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
        // Pieces that miss or repeat trees are refused.
        let halves = try single.pieces(covering: 0..<52) + single.pieces(covering: 52..<100)
        try single.checkCover(halves)
        #expect(throws: ForestError.self) { try single.checkCover([halves[0]]) }
        #expect(throws: ForestError.self) { try single.checkCover(halves + [halves[0]]) }
        #expect(throws: ForestError.self) { try single.checkCover(halves + (try single.pieces(covering: 0..<7))) }
        // Runs of unequal weights: slices end on run boundaries too.
        let runs = try ForestScoringLayout(
            task: .regression, outputWidth: 1, treeWeights: [0.1, 0.1, 0.1] + Array(repeating: 0.7 / 20, count: 20))
        #expect(runs.boundaries.prefix(4) == [0, 1, 2, 3])
        #expect(try runs.pieces(covering: 0..<3).count == 1)
    }

    /// Whole-forest predictions keep their meaning: a forest of T equal trees predicts
    /// exactly Σ leaf / T, a merged one the row-weighted average.
    @Test func equalTreesAverageExactly() throws {
        let c = try Self.classification(rows: [900], trees: [37], seed: 3)
        let forest = c.model.forest
        let got = forest.predict(binned: c.test)
        var sum = [Double](repeating: 0, count: got.count)
        for tree in forest.trees {
            let one = try RandomForest(task: .classification, trees: [tree]).predict(binned: c.test)
            for i in sum.indices { sum[i] += one[i] }
        }
        #expect(zip(got, sum).allSatisfy { abs($0 - $1 / 37) < 1e-14 })
    }

    @Test func corruptSlicesAreRefused() throws {
        let c = try Self.classification(rows: [900], trees: [37], seed: 3)
        var blob = try ForestModelSlice(c.model, trees: 0..<19).serialize()
        #expect(throws: ForestError.self) { try ForestModelSlice(deserializing: Array(blob.prefix(40))) }
        #expect(!ForestModelSlice.isSlice(c.model.serialize()))
        blob[8] = 9  // version
        #expect(throws: ForestError.self) { try ForestModelSlice(deserializing: blob) }
        #expect(throws: ForestError.self) { try ForestModelSlice(c.model, trees: 0..<18) }
    }
}
