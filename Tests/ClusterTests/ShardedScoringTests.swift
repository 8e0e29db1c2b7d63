import Foundation
import SpaceTime
import Testing

@testable import Cluster
@testable import Forest

/// The pure parts of tree-sharded scoring in the cluster: the whole/sharded choice and
/// an evaluate task's slice scores, whose combination gives the whole model's metrics.
struct ShardedScoringTests {
    static func layout(trees: Int) throws -> ForestScoringLayout {
        try ForestScoringLayout(task: .classification, outputWidth: 2, treeWeights: Array(repeating: 1 / Double(trees), count: trees))
    }

    @Test func wholeUntilTheModelTakesHalfTheLimit() throws {
        let l = try Self.layout(trees: 100)
        let small = ScoringPlan.choose(.auto, layout: l, modelBytes: 50 << 20, memoryLimit: 512 << 20)
        #expect(small.plan == .whole && small.reason.hasPrefix("whole-model scoring: the model (50 MiB"), "\(small.reason)")
        // 157 MiB × 2 + 48 MiB > 256 MiB: two slices of about half the trees.
        let big = ScoringPlan.choose(.auto, layout: l, modelBytes: 157 << 20, memoryLimit: 512 << 20)
        #expect(big.plan == .sharded([0..<52, 52..<100]), "\(big.reason)")
        #expect(big.reason.hasPrefix("tree-sharded scoring: 2 slices of the 100 trees (0..<52, 52..<100)"), "\(big.reason)")
        if case .sharded(let r) = ScoringPlan.choose(.auto, layout: l, modelBytes: 400 << 20, memoryLimit: 512 << 20).plan {
            #expect(r.count == 4)
        } else {
            Issue.record("a 400 MiB model is sliced")
        }
        #expect(ScoringPlan.choose(.whole, layout: l, modelBytes: 400 << 20, memoryLimit: 512 << 20).plan == .whole)
        #expect(ScoringPlan.choose(.sharded, layout: l, modelBytes: 1 << 20, memoryLimit: 512 << 20).plan == .sharded([0..<52, 52..<100]))
        #expect(
            ScoringPlan.choose(.sharded, layout: l, modelBytes: 1 << 20, memoryLimit: 512 << 20, slices: 3).plan
                == .sharded(l.slices(count: 3)))
        // A one-tree forest cannot be sliced.
        #expect(ScoringPlan.choose(.sharded, layout: try Self.layout(trees: 1), modelBytes: 1, memoryLimit: 1 << 30).plan == .whole)
    }

    @Test func sliceScoresCombineToTheWholeModelsMetrics() throws {
        let d = 5
        let n = 1500
        var rng = SplitMix64(seed: 5)
        var values: [Double] = []
        var labels: [String] = []
        var state = PartialExtractorState(featureNames: (0..<d).map { "f\($0)" })
        for _ in 0..<n {
            let x = (0..<d).map { _ in Double(rng.next() % 1000) / 100 }
            let label = x[0] + x[1] + Double(rng.next() % 300) / 100 > 11 ? "yes" : "no"
            values += x
            labels.append(label)
            state.add(x, label: label)
        }
        let extractor = try FeatureExtractor.fit(from: state, maxBins: 64)
        let lookup = extractor.classLookup()
        let binned = extractor.transform(rowMajor: values, labels: labels.map { lookup[$0]! })
        var params = ForestParameters()
        params.trees = 20
        let trees = try ForestTrainer(parameters: params, threads: 1).trainTrees(partition: binned, partitionIndex: 0, range: 0..<20)
        let forest = try RandomForest.merge(
            [
                .init(trees: Array(trees[0..<9]), trainingRows: 700),
                .init(trees: Array(trees[9...]), trainingRows: 800)
            ], task: .classification)
        var whole = EvaluationMetrics(task: extractor.task)
        whole.add(predictions: forest.predict(binned: binned), target: binned.target)
        let layout = ForestScoringLayout(forest)
        let scores = try layout.slices(count: 3).map { r in
            let slice = try forest.slice(r)
            let s = SliceScores(
                pieces: slice.pieces, valuesPerRow: slice.valuesPerRow, sums: slice.partialSums(binned: binned), target: binned.target)
            let decoded = try SliceScores(deserializing: s.serialize())
            #expect(decoded == s && SliceScores.isSliceScores(s.serialize()))
            return decoded
        }
        let combined = try SliceScores.metrics(scores.reversed(), layout: layout, task: extractor.task)
        #expect(combined == whole)
        #expect(throws: PipelineError.self) { try SliceScores.metrics(Array(scores.dropLast()), layout: layout, task: extractor.task) }
        var other = scores[0]
        other.target = .classes(Array(repeating: 0, count: n))
        #expect(throws: PipelineError.self) { try SliceScores.metrics([other] + scores.dropFirst(), layout: layout, task: extractor.task) }
        #expect(throws: PipelineError.self) { try SliceScores(deserializing: Data("STSS".utf8) + Data([1, 0, 0])) }
    }
}
