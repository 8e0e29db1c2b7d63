import Forest
import SpaceTime

/// How each tree's leaf values are scaled and the ensemble's sum finished, mirroring
/// ``RandomForest/predict(binned:threads:)``: a forest whose trees weigh equally (one
/// partition's, or equal partitions) sums its unscaled leaf values and divides the sum by
/// the tree count; a merged forest weighs tree `t` by `treeWeights[t]` and a classification
/// forest renormalises the probabilities to sum 1.
public enum OnnxLeafScaling: Sendable, Equatable {
    /// Leaf values unscaled; the sum is divided by `trees` (exactly what SpaceTime does).
    case divideSum(trees: Int)
    /// Leaf values times the tree's weight; classification probabilities renormalised.
    case treeWeights

    init(_ forest: RandomForest) {
        let w = forest.treeWeights
        self = w.allSatisfy({ $0 == w[0] }) ? .divideSum(trees: w.count) : .treeWeights
    }

    func factor(_ forest: RandomForest, tree t: Int) -> Double {
        switch self {
        case .divideSum: return 1
        case .treeWeights: return forest.treeWeights[t]
        }
    }
}

/// The node and leaf arrays of `TreeEnsembleClassifier` / `TreeEnsembleRegressor`
/// (ai.onnx.ml opset 3): one entry per node of every tree (node ids are SpaceTime's node
/// indices; a split's true branch is its left child), one entry per leaf value.
struct ClassicTreeArrays: Equatable {
    var treeIds: [Int64] = [], nodeIds: [Int64] = [], featureIds: [Int64] = []
    var modes: [String] = []
    /// Thresholds (`x <= value` takes the true branch), double precision; 0 for leaves.
    var values: [Double] = []
    var trueNodeIds: [Int64] = [], falseNodeIds: [Int64] = []
    /// 1 where a missing value (NaN) takes the true (left) branch.
    var missingTracksTrue: [Int64] = []
    var leafTreeIds: [Int64] = [], leafNodeIds: [Int64] = [], leafTargetIds: [Int64] = []
    var leafWeights: [Double] = []

    /// Encodes `model`'s trees; categorical splits cannot be expressed and are refused.
    init(model: ForestModel, scaling: OnnxLeafScaling) throws(OnnxExportError) {
        let forest = model.forest
        let C = forest.outputWidth
        for (t, tree) in forest.trees.enumerated() {
            let factor = scaling.factor(forest, tree: t)
            for i in 0..<tree.nodeCount {
                treeIds.append(Int64(t))
                nodeIds.append(Int64(i))
                let f = Int(tree.feature(i))
                if f < 0 {
                    featureIds.append(0)
                    modes.append("LEAF")
                    values.append(0)
                    trueNodeIds.append(0)
                    falseNodeIds.append(0)
                    missingTracksTrue.append(0)
                    let base = Int(tree.child(i)) * C
                    for c in 0..<C {
                        let v = tree.leafValues[base + c]
                        // Zero class shares add nothing: left out (a class without any
                        // weight in a row scores 0 and is never the largest).
                        if forest.task == .classification && v == 0 { continue }
                        leafTreeIds.append(Int64(t))
                        leafNodeIds.append(Int64(i))
                        leafTargetIds.append(Int64(c))
                        leafWeights.append(Double(v) * factor)
                    }
                    continue
                }
                if tree.flags(i) & Tree.categoricalSplit != 0 {
                    throw OnnxExportError(
                        .unsupportedModel,
                        "tree \(t) node \(i) splits categorical column \(quoteForMessage(model.extractor.featureNames[f])) on a level set, which TreeEnsembleClassifier/Regressor (ai.onnx.ml opset 3) cannot express; export with --ml-opset 5 (TreeEnsemble, BRANCH_MEMBER)"
                    )
                }
                featureIds.append(Int64(f))
                modes.append("BRANCH_LEQ")
                values.append(try threshold(model, tree: t, node: i))
                trueNodeIds.append(Int64(tree.child(i)))
                falseNodeIds.append(Int64(tree.child(i)) + 1)
                missingTracksTrue.append(tree.flags(i) & Tree.missingGoesLeft != 0 ? 1 : 0)
            }
        }
    }
}

/// The attributes of `TreeEnsemble` (ai.onnx.ml opset 5): interior nodes and leaves in
/// separate arrays, one target per leaf. A classification tree is written once per class
/// (copy `c` carries class `c`'s leaf values); a tree that is a single leaf gets one node
/// whose branches both reach that leaf.
struct EnsembleTreeArrays: Equatable {
    var treeRoots: [Int64] = []
    var featureIds: [Int64] = []
    /// 0 = BRANCH_LEQ, 6 = BRANCH_MEMBER.
    var modes: [UInt8] = []
    /// Thresholds of BRANCH_LEQ nodes; NaN for BRANCH_MEMBER nodes.
    var splits: [Double] = []
    var trueIds: [Int64] = [], trueLeafs: [Int64] = [], falseIds: [Int64] = [], falseLeafs: [Int64] = []
    var missingTracksTrue: [Int64] = []
    /// The level codes of each BRANCH_MEMBER node's set, in node order, each set followed by NaN.
    var membershipValues: [Double] = []
    var leafTargetIds: [Int64] = []
    var leafWeights: [Double] = []

    static let branchLEQ: UInt8 = 0
    static let branchMember: UInt8 = 6

    init(model: ForestModel, scaling: OnnxLeafScaling) throws(OnnxExportError) {
        let forest = model.forest
        let C = forest.outputWidth
        for (t, tree) in forest.trees.enumerated() {
            let factor = scaling.factor(forest, tree: t)
            // Interior position of each split node, leaf position of each leaf node (per copy).
            var interior = [Int](repeating: -1, count: tree.nodeCount)
            var splitCount = 0
            for i in 0..<tree.nodeCount where tree.feature(i) >= 0 {
                interior[i] = splitCount
                splitCount += 1
            }
            for c in 0..<C {
                let nodeBase = featureIds.count
                let leafBase = leafWeights.count
                for l in 0..<tree.leafCount {
                    leafTargetIds.append(Int64(c))
                    leafWeights.append(Double(tree.leafValues[l * C + c]) * factor)
                }
                treeRoots.append(Int64(nodeBase))
                if splitCount == 0 {
                    appendNode(
                        feature: 0, mode: Self.branchLEQ, split: .infinity, missingTrue: true,
                        true: (Int64(leafBase) + Int64(tree.child(0)), true), false: (Int64(leafBase) + Int64(tree.child(0)), true))
                    continue
                }
                func target(_ node: Int) -> (Int64, Bool) {
                    tree.feature(node) < 0 ? (Int64(leafBase) + Int64(tree.child(node)), true) : (Int64(nodeBase + interior[node]), false)
                }
                for i in 0..<tree.nodeCount where tree.feature(i) >= 0 {
                    let f = Int(tree.feature(i))
                    let left = Int(tree.child(i))
                    if tree.flags(i) & Tree.categoricalSplit != 0 {
                        guard model.extractor.kinds[f] == .categorical else {
                            throw OnnxExportError(
                                .unsupportedModel,
                                "tree \(t) node \(i): a level-set split on numeric column \(quoteForMessage(model.extractor.featureNames[f]))"
                            )
                        }
                        let set = tree.levelSet(node: i)
                        let codes = set.filter { $0 != Int(FeatureExtractor.missingBin) }
                        let missingLeft = set.last == Int(FeatureExtractor.missingBin)
                        if codes.isEmpty {
                            // Only missing values go left: no level code is <= -infinity.
                            appendNode(
                                feature: f, mode: Self.branchLEQ, split: -.infinity, missingTrue: missingLeft,
                                true: target(left), false: target(left + 1))
                        } else {
                            appendNode(
                                feature: f, mode: Self.branchMember, split: .nan, missingTrue: missingLeft,
                                true: target(left), false: target(left + 1))
                            membershipValues += codes.map(Double.init) + [.nan]
                        }
                    } else {
                        appendNode(
                            feature: f, mode: Self.branchLEQ, split: try threshold(model, tree: t, node: i),
                            missingTrue: tree.flags(i) & Tree.missingGoesLeft != 0,
                            true: target(left), false: target(left + 1))
                    }
                }
            }
        }
    }

    private mutating func appendNode(
        feature: Int, mode: UInt8, split: Double, missingTrue: Bool,
        true t: (Int64, Bool), false f: (Int64, Bool)
    ) {
        featureIds.append(Int64(feature))
        modes.append(mode)
        splits.append(split)
        trueIds.append(t.0)
        trueLeafs.append(t.1 ? 1 : 0)
        falseIds.append(f.0)
        falseLeafs.append(f.1 ? 1 : 0)
        missingTracksTrue.append(missingTrue ? 1 : 0)
    }
}

/// The real threshold of numeric split `node` of tree `t`: `bin(x) <= b` exactly when
/// `x <= thresholds[b]` (the feature's edges, then +infinity).
func threshold(_ model: ForestModel, tree t: Int, node i: Int) throws(OnnxExportError) -> Double {
    let tree = model.forest.trees[t]
    let f = Int(tree.feature(i))
    let b = Int(tree.split(i))
    let extractor = model.extractor
    guard extractor.kinds[f] == .numeric else {
        throw OnnxExportError(
            .unsupportedModel, "tree \(t) node \(i): a threshold split on categorical column \(quoteForMessage(extractor.featureNames[f]))")
    }
    let edges = extractor.edges[f]
    guard b <= edges.count else {
        throw OnnxExportError(
            .unsupportedModel,
            "tree \(t) node \(i): threshold bin \(b) of column \(quoteForMessage(extractor.featureNames[f])) is beyond its \(edges.count + 1) bins"
        )
    }
    return b < edges.count ? edges[b] : .infinity
}
