import Foundation
import Testing

@testable import Forest

/// The size estimate against the node counts of trees grown on generated sets, and the
/// tree-size rule's choices.
@Suite struct ForestSizeEstimateTests {
    /// The make_classification family (50 features, 20 informative, 10 redundant, 1 %
    /// flipped labels): unbounded trees' node counts are within a factor 1.5 of the estimate.
    @Test(arguments: [6_000, 15_000])
    func estimateIsWithinTolerance(rows: Int) throws {
        let data = try TestData.synthetic(rows: rows, features: 50, informative: 20, redundant: 10, seed: UInt64(rows))
        let (_, p) = try TestData.binned(values: data.values, labels: data.labels, features: 50)
        var params = ForestParameters()
        params.trees = 3
        let trees = try ForestTrainer(parameters: params, threads: 2).trainTrees(partition: p, partitionIndex: 0, range: 0..<3)
        let actual = Double(trees.reduce(0) { $0 + $1.nodeCount })
        let estimate = ForestSizeEstimate.expected(
            partitionRows: [rows], task: .classification, outputWidth: 2,
            featureCount: 50, parameters: params)
        #expect(estimate.trees == 3)
        #expect(
            estimate.nodes / actual < 1.5 && actual / estimate.nodes < 1.5,
            "\(rows) rows: estimate \(estimate.nodes) nodes, actual \(actual)")
        let bytes = Double(trees.reduce(0) { $0 + $1.storedBytes })
        #expect(estimate.bytes / bytes < 1.5 && bytes / estimate.bytes < 1.5)
        // The depth bound holds.
        params.maxDepth = 6
        let capped = try ForestTrainer(parameters: params, threads: 2).trainTrees(partition: p, partitionIndex: 0, range: 0..<3)
        let bound = ForestSizeEstimate.maximum(partitionRows: [rows], maxDepth: 6, outputWidth: 2, featureCount: 50, parameters: params)
        #expect(Double(capped.reduce(0) { $0 + $1.storedBytes }) <= bound.bytes)
    }

    @Test func smallDataGetsNoCap() {
        var p = ForestParameters()
        p.trees = 100
        // The 100K benchmark set as the coordinator plans it (80K training rows + 15 % margin).
        let d = TreeSizeRule.decide(
            parameters: p, explicit: false, partitionRows: [92_000], task: .classification,
            outputWidth: 2, featureCount: 50, memoryLimit: 512 << 20)
        #expect(d.chosenDepth == nil && d.parameters == p && !d.overBudget)
        #expect(d.message.contains("no depth cap"))
        // 1M rows in one 920K-row partition fits too (~110 MiB expected, 162 MiB budget).
        let big = TreeSizeRule.decide(
            parameters: p, explicit: false, partitionRows: [920_000], task: .classification,
            outputWidth: 2, featureCount: 50, memoryLimit: 512 << 20)
        #expect(big.chosenDepth == nil)
        #expect(big.expected.bytes > 100 * 1_048_576 && big.expected.bytes < big.budget)
    }

    @Test func aForestOverTheBudgetIsCapped() {
        var p = ForestParameters()
        p.trees = 100
        let limit: UInt64 = 256 << 20
        let d = TreeSizeRule.decide(
            parameters: p, explicit: false, partitionRows: [920_000], task: .classification,
            outputWidth: 2, featureCount: 50, memoryLimit: limit)
        let depth = try! #require(d.chosenDepth)
        #expect(d.parameters.maxDepth == depth)
        let bound = ForestSizeEstimate.maximum(partitionRows: [920_000], maxDepth: depth, outputWidth: 2, featureCount: 50, parameters: p)
        let deeper = ForestSizeEstimate.maximum(
            partitionRows: [920_000], maxDepth: depth + 1, outputWidth: 2, featureCount: 50, parameters: p)
        #expect(bound.bytes <= d.budget && deeper.bytes > d.budget)
        #expect(d.message.contains("max depth \(depth) chosen"))
        // Explicit values are kept, with a warning.
        let explicit = TreeSizeRule.decide(
            parameters: p, explicit: true, partitionRows: [920_000], task: .classification,
            outputWidth: 2, featureCount: 50, memoryLimit: limit)
        #expect(explicit.overBudget && explicit.parameters == p && explicit.chosenDepth == nil)
        #expect(explicit.message.contains("--max-depth \(depth) would fit"))
        // A larger leaf minimum shrinks the expectation.
        p.minSamplesLeaf = 4
        let leafy = TreeSizeRule.decide(
            parameters: p, explicit: true, partitionRows: [920_000], task: .classification,
            outputWidth: 2, featureCount: 50, memoryLimit: limit)
        #expect(!leafy.overBudget)
    }
}
