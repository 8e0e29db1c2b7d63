import Foundation
import SpaceTime
import SwiftProtobuf
import Testing

@testable import Forest
@testable import ForestExport

/// Hand-built models and the arrays and graphs the exporter makes of them.
@Suite struct OnnxExporterTests {
    /// A tree from flat node descriptions: `(feature, split, flags, child)`; a leaf is
    /// `(-1, 0, 0, leafIndex)`.
    static func tree(
        _ nodes: [(Int32, UInt32, UInt8, Int32)], leaves: [Float], width: Int, features: Int,
        levelSets: [UInt64] = []
    ) throws -> Tree {
        try Tree(
            outputWidth: width, featureCount: features, depth: 0, feature: nodes.map(\.0), split: nodes.map(\.1),
            flags: nodes.map(\.2), child: nodes.map(\.3), levelSets: levelSets, leafValues: leaves,
            importances: Array(repeating: 0, count: features), context: "test tree")
    }

    /// A 256-bit level set of `bins`.
    static func levelSet(_ bins: [Int]) -> [UInt64] {
        var words = [UInt64](repeating: 0, count: 4)
        for b in bins { words[b >> 6] |= 1 << UInt64(b & 63) }
        return words
    }

    static func model(
        kinds: [ColumnKind], edges: [[Double]], levels: [[String]] = [], other: [[UInt64]] = [],
        task: LearningTask, trees: [Tree], weights: [Double]? = nil,
        names: [String]? = nil, derivation: String = ""
    ) throws -> ForestModel {
        let d = kinds.count
        let names = names ?? (0..<d).map { "f\($0)" }
        let extractor = FeatureExtractor(
            featureNames: names, derivationIdentifier: derivation, inputNames: names, kinds: kinds, edges: edges,
            levels: levels.isEmpty ? Array(repeating: [], count: d) : levels,
            otherLevels: other.isEmpty ? Array(repeating: [], count: d) : other,
            statistics: Array(repeating: FeatureStatistics(), count: d), task: task)
        let forest = try RandomForest(
            task: task.kind, outputWidth: task.outputWidth, featureCount: d, trees: trees,
            treeWeights: weights ?? Array(repeating: 1 / Double(trees.count), count: trees.count))
        let schema = DatasetSchema(
            header: names + ["y"], targetIndex: d, task: task.kind, featureIndices: Array(0..<d),
            featureKinds: kinds)
        return try ForestModel(schema: schema, extractor: extractor, parameters: ForestParameters(), forest: forest)
    }

    static let twoClasses = LearningTask.classification(classes: ["no", "yes"], counts: [5, 5])

    /// f0 <= 2.5 (missing left) ? leaf [0.25, 0.75] : (f1 <= +inf (missing right) ? [1, 0] : [0, 1]).
    static func numericTree() throws -> Tree {
        try tree(
            [(0, 1, Tree.missingGoesLeft, 1), (-1, 0, 0, 0), (1, 1, 0, 3), (-1, 0, 0, 1), (-1, 0, 0, 2)],
            leaves: [0.25, 0.75, 1, 0, 0, 1], width: 2, features: 2)
    }

    static func numericModel(trees: [Tree]? = nil, weights: [Double]? = nil) throws -> ForestModel {
        try model(
            kinds: [.numeric, .numeric], edges: [[1.5, 2.5, 3.5], [10]], task: twoClasses,
            trees: trees ?? [numericTree()], weights: weights)
    }

    static func attribute(_ node: Onnx_NodeProto, _ name: String) -> Onnx_AttributeProto? {
        node.attribute.first { $0.name == name }
    }

    static func doubles(_ t: Onnx_TensorProto) -> [Double] {
        t.rawData.withUnsafeBytes { raw in
            (0..<(raw.count / 8)).map {
                Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self)))
            }
        }
    }

    static func parse(_ export: OnnxExport) throws -> Onnx_ModelProto {
        try Onnx_ModelProto(serializedBytes: export.bytes)
    }

    @Test func numericSplitAndMissingLeftArrays() throws {
        let m = try Self.numericModel()
        let a = try ClassicTreeArrays(model: m, scaling: OnnxLeafScaling(m.forest))
        #expect(a.nodeIds == [0, 1, 2, 3, 4])
        #expect(a.featureIds == [0, 0, 1, 0, 0])
        #expect(a.modes == ["BRANCH_LEQ", "LEAF", "BRANCH_LEQ", "LEAF", "LEAF"])
        // Split bin 1 of f0 is x <= edges[1]; bin 1 of f1 is past its last edge: +infinity.
        #expect(a.values == [2.5, 0, .infinity, 0, 0])
        #expect(a.trueNodeIds == [1, 0, 3, 0, 0])
        #expect(a.falseNodeIds == [2, 0, 4, 0, 0])
        #expect(a.missingTracksTrue == [1, 0, 0, 0, 0])
        // Zero shares are left out; a single tree's leaves are unscaled (the graph divides by 1).
        #expect(a.leafNodeIds == [1, 1, 3, 4])
        #expect(a.leafTargetIds == [0, 1, 0, 1])
        #expect(a.leafWeights == [0.25, 0.75, 1, 1])
    }

    @Test func classifierGraphParsesBack() throws {
        let m = try Self.numericModel(trees: [Self.numericTree(), Self.numericTree()])
        let export = try OnnxExporter.export(m)
        #expect(export.mlOpset == 3 && export.treeOperator == "TreeEnsembleClassifier")
        let proto = try Self.parse(export)
        #expect(proto.opsetImport.map(\.domain) == ["", "ai.onnx.ml"])
        #expect(proto.opsetImport.map(\.version) == [13, 3])
        let g = proto.graph
        #expect(g.input.map(\.name) == ["f0", "f1"])
        #expect(g.input.allSatisfy { $0.type.tensorType.elemType == 11 })
        #expect(g.output.map(\.name) == ["label", "probabilities"])
        #expect(g.node.map(\.opType) == ["Concat", "TreeEnsembleClassifier", "Slice", "Div"])
        let trees = g.node[1]
        #expect(trees.domain == "ai.onnx.ml")
        // Two classes: a third, never scored label keeps onnxruntime on its argmax path.
        #expect(Self.attribute(trees, "classlabels_strings")?.strings.map { String(decoding: $0, as: UTF8.self) } == ["no", "yes", ""])
        #expect(
            Self.doubles(try #require(Self.attribute(trees, "nodes_values_as_tensor")).t) == [
                2.5, 0, .infinity, 0, 0, 2.5, 0, .infinity, 0, 0
            ])
        #expect(Self.attribute(trees, "nodes_missing_value_tracks_true")?.ints == [1, 0, 0, 0, 0, 1, 0, 0, 0, 0])
        #expect(Self.attribute(trees, "class_treeids")?.ints == [0, 0, 0, 0, 1, 1, 1, 1])
        // Equal trees: the graph divides the leaf sums by the tree count.
        let divisor = try #require(g.initializer.first { $0.name == g.node[3].input[1] })
        #expect(divisor.dataType == 1 && divisor.rawData == Data(withUnsafeBytes(of: Float(2).bitPattern.littleEndian) { Array($0) }))
        #expect(proto.metadataProps.first { $0.key == "spacetime.fingerprint" }?.value == m.fingerprintHex)
    }

    @Test func weightedTreesFoldTheirWeightsAndRenormalise() throws {
        let m = try Self.numericModel(trees: [Self.numericTree(), Self.numericTree(), Self.numericTree()], weights: [0.25, 0.25, 0.5])
        let scaling = OnnxLeafScaling(m.forest)
        #expect(scaling == .treeWeights)
        let a = try ClassicTreeArrays(model: m, scaling: scaling)
        #expect(a.leafWeights == [0.0625, 0.1875, 0.25, 0.25, 0.0625, 0.1875, 0.25, 0.25, 0.125, 0.375, 0.5, 0.5])
        let g = try Self.parse(OnnxExporter.export(m)).graph
        #expect(g.node.map(\.opType) == ["Concat", "TreeEnsembleClassifier", "Slice", "ReduceSum", "Div"])
        // Equal weights are one run: divided, not renormalised, as SpaceTime's scorer does.
        #expect(
            OnnxLeafScaling(try Self.numericModel(trees: [Self.numericTree(), Self.numericTree()], weights: [0.5, 0.5]).forest)
                == .divideSum(trees: 2))
    }

    @Test func regressionUsesAverageForEqualTrees() throws {
        let t = try Self.tree([(0, 0, 0, 1), (-1, 0, 0, 0), (-1, 0, 0, 1)], leaves: [1.5, 42], width: 1, features: 1)
        let m = try Self.model(kinds: [.numeric], edges: [[0.5]], task: .regression(FeatureStatistics()), trees: [t, t])
        let export = try OnnxExporter.export(m)
        let g = try Self.parse(export).graph
        #expect(g.node.map(\.opType) == ["Concat", "TreeEnsembleRegressor"])
        #expect(Self.attribute(g.node[1], "aggregate_function")?.s == Data("AVERAGE".utf8))
        #expect(Self.doubles(try #require(Self.attribute(g.node[1], "target_weights_as_tensor")).t) == [1.5, 42, 1.5, 42])
        #expect(g.output.map(\.name) == ["value"])
        let weighted = try Self.model(
            kinds: [.numeric], edges: [[0.5]], task: .regression(FeatureStatistics()), trees: [t, t], weights: [0.75, 0.25])
        let w = try Self.parse(OnnxExporter.export(weighted)).graph
        #expect(Self.attribute(w.node[1], "aggregate_function")?.s == Data("SUM".utf8))
        #expect(Self.doubles(try #require(Self.attribute(w.node[1], "target_weights_as_tensor")).t) == [1.125, 31.5, 0.375, 10.5])
    }

    /// f0 (categorical a, b, c, other) in {a, c, missing} ? [1, 0] : (f0 in {missing} ? [0.5, 0.5] : [0, 1]).
    static func categoricalModel(other: [UInt64] = []) throws -> ForestModel {
        let t = try tree(
            [(0, 0, Tree.categoricalSplit, 1), (-1, 0, 0, 0), (0, 1, Tree.categoricalSplit, 3), (-1, 0, 0, 1), (-1, 0, 0, 2)],
            leaves: [1, 0, 0.5, 0.5, 0, 1], width: 2, features: 1,
            levelSets: levelSet([0, 2, 255]) + levelSet([255]))
        return try model(kinds: [.categorical], edges: [[]], levels: [["a", "b", "c"]], other: [other], task: twoClasses, trees: [t])
    }

    @Test func categoricalSplitArrays() throws {
        let m = try Self.categoricalModel()
        let a = try EnsembleTreeArrays(model: m, scaling: OnnxLeafScaling(m.forest))
        // One copy of the tree per class, each with its own leaves.
        #expect(a.treeRoots == [0, 2])
        #expect(a.modes == [6, 0, 6, 0])
        // The missing-only set is a threshold no level code passes, with missing on the true side.
        #expect(a.splits[1] == -.infinity && a.splits[3] == -.infinity && a.splits[0].isNaN)
        #expect(a.missingTracksTrue == [1, 1, 1, 1])
        #expect(a.trueIds == [0, 1, 3, 4] && a.trueLeafs == [1, 1, 1, 1])
        #expect(a.falseIds == [1, 2, 3, 5] && a.falseLeafs == [0, 1, 0, 1])
        #expect(a.membershipValues.count == 6)
        #expect(Array(a.membershipValues.prefix(2)) == [0, 2] && a.membershipValues[2].isNaN)
        #expect(a.leafTargetIds == [0, 0, 0, 1, 1, 1])
        #expect(a.leafWeights == [1, 0.5, 0, 0, 0.5, 1])
        #expect(throws: OnnxExportError.self) { try ClassicTreeArrays(model: m, scaling: .divideSum(trees: 1)) }
    }

    @Test func categoricalGraphUsesTreeEnsembleAndLabelEncoder() throws {
        let hash = UInt64(LevelHash.of("rare"))
        let m = try Self.categoricalModel(other: [hash])
        let export = try OnnxExporter.export(m, options: OnnxExportOptions(otherLevelTexts: [0: ["rare"]]))
        #expect(export.mlOpset == 5 && export.treeOperator == "TreeEnsemble")
        #expect(export.otherLevels.count == 1 && export.otherLevels[0].mapped == 1 && export.otherLevels[0].unmapped == 0)
        let proto = try Self.parse(export)
        #expect(proto.opsetImport.map(\.version) == [13, 5])
        let g = proto.graph
        #expect(g.input.first?.type.tensorType.elemType == 8)
        #expect(g.node.map(\.opType) == ["LabelEncoder", "Cast", "Concat", "TreeEnsemble", "Div", "ArgMax", "Gather", "Cast"])
        let encoder = g.node[0]
        #expect(Self.attribute(encoder, "keys_strings")?.strings.map { String(decoding: $0, as: UTF8.self) } == ["a", "b", "c", "rare"])
        #expect(Self.attribute(encoder, "values_floats")?.floats == [0, 1, 2, 3])
        #expect(Self.attribute(encoder, "default_float")?.f.isNaN == true)
        #expect(Self.attribute(g.node[3], "nodes_modes")?.t.rawData == Data([6, 0, 6, 0]))
        // Without the texts, the export says how many "other" levels are left unmapped.
        let bare = try OnnxExporter.export(m)
        #expect(bare.otherLevels[0].unmapped == 1)
        let classic = #expect(throws: OnnxExportError.self) { try OnnxExporter.export(m, options: OnnxExportOptions(mlOpset: 3)) }
        #expect(classic?.message.contains("opset 5") == true)
    }

    @Test func otherLevelTextsAreReadFromTheData() throws {
        let m = try Self.categoricalModel(other: [UInt64(LevelHash.of("rare")), UInt64(LevelHash.of("rarer "))])
        let path = NSTemporaryDirectory() + "onnx-levels-\(getpid()).csv"
        defer { unlink(path) }
        try "y,f0\nno,a\nyes,rarer \nno,NA\nyes,rare\nno,unseen\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try OnnxExporter.otherLevelTexts(model: m, csvPath: path) == [0: ["rare", "rarer "]])
    }

    @Test func unsupportedModelsAreClearErrors() throws {
        let derived = try Self.model(
            kinds: [.numeric, .numeric], edges: [[1.5, 2.5, 3.5], [10]], task: Self.twoClasses,
            trees: [Self.numericTree()], derivation: "ratios-v1")
        let e1 = #expect(throws: OnnxExportError.self) { try OnnxExporter.export(derived) }
        #expect(e1?.message.contains("ratios-v1") == true)
        let named = try Self.model(
            kinds: [.numeric, .numeric], edges: [[1.5, 2.5, 3.5], [10]], task: Self.twoClasses,
            trees: [Self.numericTree()], names: ["label", "x"])
        let e2 = #expect(throws: OnnxExportError.self) { try OnnxExporter.export(named) }
        #expect(e2?.message.contains("`label`") == true)
        // A threshold bin past the feature's bins (a forged model) is refused, not clamped.
        let bad = try Self.tree([(1, 5, 0, 1), (-1, 0, 0, 0), (-1, 0, 0, 1)], leaves: [1, 0, 0, 1], width: 2, features: 2)
        let e3 = #expect(throws: OnnxExportError.self) { try OnnxExporter.export(Self.numericModel(trees: [bad])) }
        #expect(e3?.message.contains("beyond") == true)
        #expect(throws: OnnxExportError.self) { try OnnxExporter.export(Self.numericModel(), options: OnnxExportOptions(mlOpset: 4)) }
    }

    @Test func integerClassesAreInt64Labels() throws {
        #expect(OnnxExporter.classLabels(["0", "1", "10"]) == .int64s([0, 1, 10]))
        #expect(OnnxExporter.classLabels(["0", "1.0"]) == .strings(["0", "1.0"]))
        #expect(OnnxExporter.classLabels(["01", "2"]) == .strings(["01", "2"]))
        #expect(ClassLabels.int64s([0, 1]).withUnusedClass() == .int64s([0, 1, 2]))
        #expect(ClassLabels.int64s([Int64.max, Int64.min]).withUnusedClass() == .int64s([Int64.max, Int64.min, Int64.min + 1]))
    }

    @Test func singleLeafTreeAndNumericOpset5() throws {
        let leaf = try Self.tree([(-1, 0, 0, 0)], leaves: [0.5, 0.5], width: 2, features: 2)
        let m = try Self.numericModel(trees: [leaf, Self.numericTree()])
        let a = try EnsembleTreeArrays(model: m, scaling: OnnxLeafScaling(m.forest))
        // The leaf tree: one node whose two branches reach its leaf (per class copy).
        #expect(a.treeRoots == [0, 1, 2, 4])
        #expect(a.trueIds[0] == 0 && a.falseIds[0] == 0 && a.trueLeafs[0] == 1 && a.falseLeafs[0] == 1)
        #expect(a.splits[2] == 2.5 && a.splits[3] == .infinity)
        let export = try OnnxExporter.export(m, options: OnnxExportOptions(mlOpset: 5))
        #expect(export.treeOperator == "TreeEnsemble")
        _ = try Self.parse(export)
    }
}
